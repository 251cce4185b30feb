use lariat::prelude::*;

#[derive(Default)]
struct Echo<T> {
    last: Option<T>,
}

#[websocket_handler]
impl<T: Send + 'static> Echo<T> {
    #[frame(Text(text))]
    fn echo(&mut self, text: Text) -> Reply {
        let _ = &self.last;
        Reply::text(text)
    }
}

fn main() {}
