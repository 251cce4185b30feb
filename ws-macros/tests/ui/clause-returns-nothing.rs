use lariat::prelude::*;

#[derive(Default)]
struct Log {
    lines: Vec<String>,
}

#[websocket_handler]
impl Log {
    #[frame(Text(line))]
    fn log(&mut self, line: String) {
        self.lines.push(line);
    }
}

fn main() {}
