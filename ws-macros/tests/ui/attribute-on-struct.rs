use lariat::prelude::*;

#[websocket_handler]
struct Chat {
    nick: String,
}

fn main() {
    let _ = Chat { nick: String::new() }.nick;
}
