use lariat::prelude::*;

#[websocket_handler]
fn say(text: String) -> Reply {
    Reply::text(text)
}

fn main() {
    let _ = say(String::new());
}
