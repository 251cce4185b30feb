use lariat::prelude::*;

#[derive(Default)]
struct Timer;

#[websocket_handler]
impl Timer {
    #[frame(Text(_))]
    fn start(&mut self, ctx: &mut Ctx<lariat::Never>, again: &mut Ctx<lariat::Never>) -> Reply {
        let _ = (ctx, again);
        Reply::ok()
    }
}

fn main() {}
