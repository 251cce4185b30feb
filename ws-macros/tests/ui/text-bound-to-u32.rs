use lariat::prelude::*;

#[derive(Default)]
struct Counter {
    total: u32,
}

#[websocket_handler]
impl Counter {
    #[frame(Text(number))]
    fn add(&mut self, number: u32) -> Reply {
        self.total += number;
        Reply::ok()
    }
}

fn main() {}
