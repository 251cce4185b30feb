//! Without `init`, a `Default` handler; without `#[info]`, `Info = Never`;
//! without frame clauses, the runtime's defaults (close 1003 on data).

use lariat::prelude::*;

#[derive(Default)]
struct Nothing;

#[websocket_handler]
impl Nothing {}

fn info_is_never<H: Handler<Info = lariat::Never>>() {}

fn main() {
    info_is_never::<Nothing>();
    let _ = Nothing::handler();
}
