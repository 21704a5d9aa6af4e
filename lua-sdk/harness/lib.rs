//! `lua_sdk`: the harness that runs the Luau SDK (`src/ClassHub.luau`, the file game servers
//! use and classhub serves at `/sdk/ClassHub.luau`) in the real Luau VM, outside Roblox.
//!
//! Entry type: [`Harness`]. It loads Roblox stand-ins (`roblox.luau`: `task`, `game`,
//! `DateTime`, HttpService, MessagingService, BadgeService, Players, RunService) and the SDK
//! into one Luau state, and drives every Luau thread on a **virtual clock**: a simulated minute
//! costs no real minute. `HttpService:RequestAsync` makes **real HTTP** requests (to a classhub
//! on loopback in the tests) on tokio tasks, so a held long-poll never blocks the other threads.
//!
//! The clock rule (see [`Harness::run_until`]): ready threads run first; while an ordinary
//! request is in flight the clock stands still (a request takes no virtual time); while only
//! held long-polls are in flight the clock may run, but no faster than [`PACE`] times real
//! time, so a command the server sends while a poll is held arrives a few virtual seconds
//! later, as it would in a game. The harness never makes timing assertions; tests wait for
//! behaviour with a virtual-time budget.
//!
//! This crate owns no wire types and does not depend on the server; the integration tests in
//! `tests/it` bring the server in.

mod http;
mod json;
mod scheduler;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mlua::thread::ThreadStatus;
use mlua::{FromLuaMulti, Function, Lua, MultiValue, Table, Thread, Value, Variadic};
use tokio::sync::mpsc;

pub use http::{Fault, FaultKind, RequestRecord};
pub use json::roblox_normal_form;

use http::{Completion, HttpBridge, Outcome, Request, Secret};
use scheduler::{Scheduler, Wakeup};

/// The SDK, exactly the file game developers copy into Roblox.
pub const SDK_SOURCE: &str = include_str!("../src/ClassHub.luau");

/// The Roblox stand-ins.
const STAND_INS: &str = include_str!("roblox.luau");

/// Longest real time one [`Harness::run_until`] may take (a hang fails instead of blocking CI).
pub const REAL_PATIENCE: Duration = Duration::from_secs(180);

/// While only held long-polls are in flight, virtual time runs at most this much faster than
/// real time.
pub const PACE: f64 = 200.0;

/// `DateTime.now()` at virtual time zero (2025-11-26T12:26:40Z), in Unix milliseconds.
const EPOCH_MS: f64 = 1_764_160_000_000.0;

/// Why the harness could not do what a test asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// Loading or calling Luau failed.
    #[error("Luau: {0}")]
    Lua(#[from] mlua::Error),
    /// A Luau thread died of an error nobody caught (the SDK must pcall what can throw).
    #[error("a Luau thread failed with an uncaught error:\n{0}")]
    ThreadFailed(String),
    /// The condition did not hold within the virtual-time budget.
    #[error("{what}: still not the case after {seconds} virtual seconds")]
    VirtualTimeout {
        /// What the test waited for.
        what: String,
        /// The budget.
        seconds: f64,
    },
    /// The condition did not hold within [`REAL_PATIENCE`].
    #[error("{what}: still not the case after {REAL_PATIENCE:?} of real time")]
    RealTimeout {
        /// What the test waited for.
        what: String,
    },
    /// Every thread is suspended, no timer is set and no request is in flight.
    #[error("{what}: can never happen: every Luau thread is suspended with nothing to wake it")]
    Stalled {
        /// What the test waited for.
        what: String,
    },
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// [`Harness::new`] was called outside a tokio runtime.
    #[error("the harness needs a tokio runtime: create it inside #[tokio::test]")]
    NoRuntime,
}

/// How the game server the SDK runs in looks.
#[derive(Debug, Clone)]
pub struct Options {
    /// classhub's address, made available to scripts as the global `BASE_URL`.
    pub base_url: String,
    /// The experience's Secrets store: name → value.
    pub secrets: Vec<(String, String)>,
    /// `game.JobId`.
    pub job_id: String,
    /// `game.PlaceId`.
    pub place_id: u64,
    /// `game.GameId` (the universe id).
    pub universe_id: u64,
}

impl Options {
    /// A game server with a fresh JobId, talking to `base_url`.
    pub fn new(base_url: impl Into<String>) -> Options {
        Options {
            base_url: base_url.into(),
            secrets: Vec::new(),
            job_id: guid(false).to_lowercase(),
            place_id: 4_242,
            universe_id: 424_242,
        }
    }

    /// Adds a secret to the Secrets store.
    pub fn secret(mut self, name: &str, value: &str) -> Options {
        self.secrets.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the Luau side did that a test may look at. Shared with the primitives through an
/// `Rc<RefCell<_>>`: the primitives borrow it only for the duration of one call and never call
/// back into Luau while they hold it.
struct World {
    scheduler: Scheduler,
    http: HttpBridge,
    errors: Vec<String>,
    warnings: Vec<String>,
    guids: Vec<String>,
    badges: Vec<(u64, u64)>,
    secrets: HashMap<String, String>,
}

/// A Luau thread started by [`Harness::spawn`].
#[derive(Debug, Clone)]
pub struct Script {
    name: String,
    thread: Thread,
}

impl Script {
    /// Whether it ran to its end (or died; the harness reports that as an error).
    pub fn is_done(&self) -> bool {
        matches!(
            self.thread.status(),
            ThreadStatus::Finished | ThreadStatus::Error
        )
    }

    /// The name it was spawned with.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// The Luau VM with the SDK loaded, the Roblox stand-ins and the virtual clock.
pub struct Harness {
    lua: Lua,
    world: Rc<RefCell<World>>,
    completions: mpsc::UnboundedReceiver<Completion>,
    control: Table,
    resume: Function,
    /// (virtual, real) time when no request was last in flight: pacing starts from there.
    pace_anchor: (f64, Instant),
    /// Expressions [`Harness::eval`] has compiled.
    compiled: RefCell<HashMap<String, Function>>,
    options: Options,
}

impl Harness {
    /// A fresh Luau state with the stand-ins and the SDK loaded; `ClassHub` and `BASE_URL` are
    /// globals. Must be called inside a tokio runtime.
    pub fn new(options: Options) -> Result<Harness, HarnessError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| HarnessError::NoRuntime)?;
        let (completions_tx, completions) = mpsc::unbounded_channel();
        let world = Rc::new(RefCell::new(World {
            scheduler: Scheduler::default(),
            http: HttpBridge::new(runtime, completions_tx)?,
            errors: Vec::new(),
            warnings: Vec::new(),
            guids: Vec::new(),
            badges: Vec::new(),
            secrets: options.secrets.iter().cloned().collect(),
        }));
        let lua = Lua::new();
        let primitives = primitives(&lua, &world, &options)?;
        let control: Table = lua
            .load(STAND_INS)
            .set_name("@lua-sdk/harness/roblox.luau")
            .call(primitives)?;
        let globals = lua.globals();
        let installed: Table = control.get("globals")?;
        for pair in installed.pairs::<String, Value>() {
            let (name, value) = pair?;
            globals.set(name, value)?;
        }
        globals.set("BASE_URL", options.base_url.as_str())?;
        let class_hub: Table = lua
            .load(SDK_SOURCE)
            .set_name("@lua-sdk/src/ClassHub.luau")
            .call(())?;
        globals.set("ClassHub", class_hub)?;
        let resume: Function = control.get("resume")?;
        Ok(Harness {
            lua,
            world,
            completions,
            control,
            resume,
            pace_anchor: (0.0, Instant::now()),
            compiled: RefCell::new(HashMap::new()),
            options,
        })
    }

    /// The Luau state.
    pub fn lua(&self) -> &Lua {
        &self.lua
    }

    /// The options it was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Runs `source` in a new thread, as `task.spawn` would: at once, until it first yields.
    pub fn spawn(&self, name: &str, source: &str) -> Result<Script, HarnessError> {
        let function = self
            .lua
            .load(source)
            .set_name(format!("={name}"))
            .into_function()?;
        let spawn: Function = self.control.get("spawn")?;
        let thread: Thread = spawn.call(function)?;
        self.check_failures()?;
        Ok(Script {
            name: name.to_owned(),
            thread,
        })
    }

    /// Evaluates a Luau expression that does not yield, e.g. `hub:GetStats().sent`. Compiled
    /// once per distinct expression (conditions are evaluated after every step).
    pub fn eval<T: FromLuaMulti>(&self, expression: &str) -> Result<T, HarnessError> {
        let cached = self.compiled.borrow().get(expression).cloned();
        let function = match cached {
            Some(function) => function,
            None => {
                let function = self
                    .lua
                    .load(format!("return {expression}"))
                    .set_name("=eval")
                    .into_function()?;
                self.compiled
                    .borrow_mut()
                    .insert(expression.to_owned(), function.clone());
                function
            }
        };
        Ok(function.call(())?)
    }

    /// Virtual seconds since the start.
    pub fn now(&self) -> f64 {
        self.world.borrow().scheduler.now()
    }

    /// Every HTTP request the SDK made so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.world.borrow().http.records().to_vec()
    }

    /// Injects a fault into matching requests.
    pub fn inject(&self, fault: Fault) {
        self.world.borrow_mut().http.inject(fault);
    }

    /// Injected faults that no request has used yet.
    pub fn faults_left(&self) -> usize {
        self.world.borrow().http.faults_left()
    }

    /// `(userId, badgeId)` of every `BadgeService:AwardBadgeAsync` call.
    pub fn badge_awards(&self) -> Vec<(u64, u64)> {
        self.world.borrow().badges.clone()
    }

    /// Everything passed to `warn`.
    pub fn warnings(&self) -> Vec<String> {
        self.world.borrow().warnings.clone()
    }

    /// Every GUID `HttpService:GenerateGUID` made.
    pub fn guids(&self) -> Vec<String> {
        self.world.borrow().guids.clone()
    }

    /// Uncaught errors so far, removed from the harness (so that a test expecting one can go on).
    pub fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut self.world.borrow_mut().errors)
    }

    /// A player joins the server (`Players.PlayerAdded` fires).
    pub fn add_player(
        &self,
        user_id: u64,
        name: &str,
        display_name: &str,
    ) -> Result<(), HarnessError> {
        let add: Function = self.control.get("add_player")?;
        add.call::<()>((user_id, name, display_name))?;
        self.check_failures()
    }

    /// A player leaves (`Players.PlayerRemoving` fires).
    pub fn remove_player(&self, user_id: u64) -> Result<(), HarnessError> {
        let remove: Function = self.control.get("remove_player")?;
        remove.call::<()>(user_id)?;
        self.check_failures()
    }

    /// A MessagingService message arrives on `topic`.
    pub fn publish_message(&self, topic: &str, data: &str) -> Result<(), HarnessError> {
        let publish: Function = self.control.get("publish")?;
        publish.call::<()>((topic, data))?;
        self.check_failures()
    }

    /// The game server shuts down: every `game:BindToClose` callback starts. Returns them, to
    /// wait for with [`Harness::run_until`].
    pub fn close_game(&self) -> Result<Vec<Script>, HarnessError> {
        let close: Function = self.control.get("close")?;
        let threads: Vec<Thread> = close.call(())?;
        self.check_failures()?;
        Ok(threads
            .into_iter()
            .map(|thread| Script {
                name: "BindToClose".to_owned(),
                thread,
            })
            .collect())
    }

    /// Runs the Luau world until `condition` holds. Fails when it has not held after
    /// `virtual_seconds` of virtual time or [`REAL_PATIENCE`] of real time, when nothing can
    /// make progress any more, or as soon as a Luau thread dies of an uncaught error.
    pub async fn run_until(
        &mut self,
        what: &str,
        virtual_seconds: f64,
        mut condition: impl FnMut(&Harness) -> Result<bool, HarnessError>,
    ) -> Result<(), HarnessError> {
        let deadline = self.now() + virtual_seconds;
        let real_deadline = Instant::now() + REAL_PATIENCE;
        loop {
            self.check_failures()?;
            if condition(self)? {
                return Ok(());
            }
            match self.step(real_deadline, deadline).await? {
                Step::Progressed => {}
                Step::NextTimer(due) if due <= deadline => {
                    self.world.borrow_mut().scheduler.advance_to(due);
                }
                Step::NextTimer(_) => {
                    return Err(HarnessError::VirtualTimeout {
                        what: what.to_owned(),
                        seconds: virtual_seconds,
                    });
                }
                Step::Idle => {
                    return Err(HarnessError::Stalled {
                        what: what.to_owned(),
                    });
                }
                Step::OutOfTime => {
                    return Err(HarnessError::RealTimeout {
                        what: what.to_owned(),
                    });
                }
            }
        }
    }

    /// Runs the Luau world for `virtual_seconds` of virtual time.
    pub async fn run_for(&mut self, virtual_seconds: f64) -> Result<(), HarnessError> {
        let until = self.now() + virtual_seconds;
        let real_deadline = Instant::now() + REAL_PATIENCE;
        loop {
            self.check_failures()?;
            match self.step(real_deadline, until).await? {
                Step::Progressed => {}
                Step::NextTimer(due) if due <= until => {
                    self.world.borrow_mut().scheduler.advance_to(due);
                }
                Step::NextTimer(_) | Step::Idle => {
                    self.world.borrow_mut().scheduler.advance_to(until);
                    return self.check_failures();
                }
                Step::OutOfTime => {
                    return Err(HarnessError::RealTimeout {
                        what: format!("running for {virtual_seconds} virtual seconds"),
                    });
                }
            }
        }
    }

    /// Runs until every script in `scripts` has finished.
    pub async fn run_scripts(
        &mut self,
        what: &str,
        virtual_seconds: f64,
        scripts: &[Script],
    ) -> Result<(), HarnessError> {
        self.run_until(what, virtual_seconds, |_| {
            Ok(scripts.iter().all(Script::is_done))
        })
        .await
    }

    /// Spawns `source` and runs until it has finished.
    pub async fn run_script(
        &mut self,
        name: &str,
        source: &str,
        virtual_seconds: f64,
    ) -> Result<(), HarnessError> {
        let script = self.spawn(name, source)?;
        self.run_scripts(name, virtual_seconds, &[script]).await
    }

    /// Does one thing: delivers finished requests, resumes one ready thread, or waits (in real
    /// time) for a request. Reports the next timer when only the clock can make progress;
    /// `horizon` is the virtual time the caller will not run past.
    async fn step(&mut self, real_deadline: Instant, horizon: f64) -> Result<Step, HarnessError> {
        while let Ok(completion) = self.completions.try_recv() {
            self.deliver(completion)?;
        }
        let ready = self.world.borrow_mut().scheduler.pop_ready();
        if let Some(wakeup) = ready {
            self.resume(wakeup)?;
            return Ok(Step::Progressed);
        }
        let now_real = Instant::now();
        if now_real >= real_deadline {
            return Ok(Step::OutOfTime);
        }
        let (quick, in_flight, next_due, now) = {
            let world = self.world.borrow();
            (
                world.http.quick_in_flight(),
                world.http.any_in_flight(),
                world.scheduler.next_due(),
                world.scheduler.now(),
            )
        };
        if !in_flight {
            self.pace_anchor = (now, now_real);
        }
        let wait_for_answer = if quick {
            // An ordinary request takes no virtual time: wait for it.
            Some(real_deadline - now_real)
        } else if let Some(due) = next_due {
            if in_flight {
                // Only held long-polls in flight: let virtual time run, at PACE.
                let (anchor_virtual, anchor_real) = self.pace_anchor;
                let allowed = anchor_virtual + PACE * anchor_real.elapsed().as_secs_f64();
                let target = due.min(horizon);
                (target > allowed).then(|| Duration::from_secs_f64((target - allowed) / PACE))
            } else {
                None
            }
        } else if in_flight {
            Some(real_deadline - now_real)
        } else {
            return Ok(Step::Idle);
        };
        match wait_for_answer {
            Some(wait) => {
                let wait = wait.min(real_deadline - now_real);
                if let Ok(Some(completion)) =
                    tokio::time::timeout(wait, self.completions.recv()).await
                {
                    self.deliver(completion)?;
                }
                Ok(Step::Progressed)
            }
            None => Ok(next_due.map_or(Step::Idle, Step::NextTimer)),
        }
    }

    fn deliver(&mut self, completion: Completion) -> Result<(), HarnessError> {
        let Some(thread) = self.world.borrow_mut().http.finish(&completion) else {
            return Ok(());
        };
        let (ok, value) = match completion.outcome {
            Outcome::Response {
                status,
                reason,
                headers,
                body,
            } => {
                let response = self.lua.create_table()?;
                response.set("Success", (200..300).contains(&status))?;
                response.set("StatusCode", status)?;
                response.set("StatusMessage", reason)?;
                let header_table = self.lua.create_table()?;
                for (name, value) in headers {
                    header_table.set(name, value)?;
                }
                response.set("Headers", header_table)?;
                response.set("Body", self.lua.create_string(body)?)?;
                (true, Value::Table(response))
            }
            Outcome::Failed(message) => (false, Value::String(self.lua.create_string(message)?)),
        };
        self.world.borrow_mut().scheduler.defer(Wakeup {
            thread,
            args: vec![Value::Boolean(ok), value],
        });
        Ok(())
    }

    fn resume(&self, wakeup: Wakeup) -> Result<(), HarnessError> {
        let mut args = Vec::with_capacity(wakeup.args.len() + 1);
        args.push(Value::Thread(wakeup.thread));
        args.extend(wakeup.args);
        self.resume.call::<()>(MultiValue::from_vec(args))?;
        Ok(())
    }

    fn check_failures(&self) -> Result<(), HarnessError> {
        let world = self.world.borrow();
        if world.errors.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::ThreadFailed(world.errors.join("\n---\n")))
        }
    }
}

enum Step {
    /// Something ran or arrived.
    Progressed,
    /// Only the clock can move things on: the next timer is due at this virtual time.
    NextTimer(f64),
    /// Nothing will ever happen.
    Idle,
    /// [`REAL_PATIENCE`] is used up.
    OutOfTime,
}

/// A Roblox-style GUID (`GenerateGUID`): upper-case hex, with braces when `wrap`.
fn guid(wrap: bool) -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|byte| format!("{byte:02X}")).collect();
    let body = format!(
        "{}-{}-4{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[16..20],
        &hex[20..32]
    );
    if wrap { format!("{{{body}}}") } else { body }
}

/// The table `H` the stand-ins are built on.
fn primitives(lua: &Lua, world: &Rc<RefCell<World>>, options: &Options) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("epoch_ms", EPOCH_MS)?;
    table.set("job_id", options.job_id.as_str())?;
    table.set("place_id", options.place_id)?;
    table.set("universe_id", options.universe_id)?;

    let shared = Rc::clone(world);
    table.set(
        "now",
        lua.create_function(move |_, ()| Ok(shared.borrow().scheduler.now()))?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "sleep",
        lua.create_function(
            move |_, (thread, seconds, args): (Thread, Option<f64>, Variadic<Value>)| {
                shared.borrow_mut().scheduler.sleep(
                    seconds.unwrap_or(0.0),
                    Wakeup {
                        thread,
                        args: args.into_iter().collect(),
                    },
                );
                Ok(())
            },
        )?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "defer",
        lua.create_function(move |_, (thread, args): (Thread, Variadic<Value>)| {
            shared.borrow_mut().scheduler.defer(Wakeup {
                thread,
                args: args.into_iter().collect(),
            });
            Ok(())
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "http_start",
        lua.create_function(move |_, (thread, request): (Thread, Table)| {
            let request = Request::from_lua(&request)?;
            let mut world = shared.borrow_mut();
            let now = world.scheduler.now();
            world.http.start(now, thread, request);
            Ok(())
        })?,
    )?;

    table.set(
        "json_encode",
        lua.create_function(|_, value: Value| {
            let json = json::to_json(&value).map_err(mlua::Error::runtime)?;
            serde_json::to_string(&json).map_err(mlua::Error::runtime)
        })?,
    )?;

    table.set(
        "json_decode",
        lua.create_function(|lua, text: String| {
            let json: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| mlua::Error::runtime(format!("Can't parse JSON: {error}")))?;
            json::to_lua(lua, &json)
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "guid",
        lua.create_function(move |_, wrap: bool| {
            let made = guid(wrap);
            shared.borrow_mut().guids.push(made.clone());
            Ok(made)
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "secret",
        lua.create_function(move |_, name: String| {
            Ok(shared.borrow().secrets.get(&name).cloned().map(Secret))
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "report",
        lua.create_function(move |_, message: String| {
            eprintln!("[luau error] {message}");
            shared.borrow_mut().errors.push(message);
            Ok(())
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "warn",
        lua.create_function(move |_, message: String| {
            let mut world = shared.borrow_mut();
            eprintln!("[luau warn t={:.2}] {message}", world.scheduler.now());
            world.warnings.push(message);
            Ok(())
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "print",
        lua.create_function(move |_, message: String| {
            eprintln!("[luau t={:.2}] {message}", shared.borrow().scheduler.now());
            Ok(())
        })?,
    )?;

    let shared = Rc::clone(world);
    table.set(
        "award",
        lua.create_function(move |_, (user_id, badge_id): (u64, u64)| {
            shared.borrow_mut().badges.push((user_id, badge_id));
            Ok(())
        })?,
    )?;

    Ok(table)
}
