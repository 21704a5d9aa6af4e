//! The terminal progress bar (indicatif), shown only when the caller says so — the binary asks
//! for it when stderr is a terminal; tests and pipes get a hidden bar that draws nothing.
//! Entry type: [`Progress`], one bar re-labelled per phase (connecting, warm-up, measuring).

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar on stderr, or nothing.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A visible bar when `visible`, a hidden one otherwise.
    pub fn new(visible: bool) -> Progress {
        let bar = if visible {
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4))
        } else {
            ProgressBar::hidden()
        };
        Progress { bar }
    }

    /// Starts a phase counting `len` things (connections, or tenths of a second).
    pub fn phase(&self, name: &'static str, len: u64) {
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_prefix(name);
        self.bar.set_length(len);
        self.bar.set_position(0);
        self.bar.set_message("");
    }

    /// Starts a timed phase of `length`, shown in tenths of a second.
    pub fn timed_phase(&self, name: &'static str, length: Duration) {
        let style = ProgressStyle::with_template("{prefix:>10} [{bar:30}] {elapsed} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_prefix(name);
        self.bar.set_length(tenths(length).max(1));
        self.bar.set_position(0);
        self.bar.reset_elapsed();
        self.bar.set_message("");
    }

    /// Moves a counting phase forward by one.
    pub fn inc(&self) {
        self.bar.inc(1);
    }

    /// Sets a timed phase's position from the time spent in it, with a live message.
    pub fn tick(&self, elapsed: Duration, message: String) {
        self.bar.set_position(tenths(elapsed));
        self.bar.set_message(message);
    }

    /// Removes the bar before the report is printed.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn tenths(duration: Duration) -> u64 {
    (duration.as_millis() / 100).min(u128::from(u64::MAX)) as u64
}
