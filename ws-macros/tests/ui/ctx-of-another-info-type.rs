use lariat::prelude::*;

enum Notice {
    Tick,
}

#[derive(Default)]
struct Clock;

#[websocket_handler(info = Notice)]
impl Clock {
    #[info(Notice::Tick)]
    fn tick(&mut self, ctx: &mut Ctx<String>) -> Reply {
        ctx.send_after(Duration::from_secs(1), "tick".to_owned());
        Reply::ok()
    }
}

fn main() {}
