//! Progress bars on a terminal; nothing when output is piped (indicatif hides bars when stderr is not a TTY).

use std::cell::RefCell;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rapport_engine::Observer;

/// Draws one bar per engine step on stderr.
#[derive(Default)]
pub struct Bars {
    current: RefCell<Option<ProgressBar>>,
}

impl Observer for Bars {
    fn start(&self, label: &str, total: u64) {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = if total > 1_000 {
            "{msg:40!} [{bar:30}] {bytes}/{total_bytes} {elapsed}"
        } else {
            "{msg:40!} [{bar:30}] {pos}/{len} {elapsed}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_owned());
        *self.current.borrow_mut() = Some(bar);
    }

    fn progress(&self, done: u64) {
        if let Some(bar) = self.current.borrow().as_ref() {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.current.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
