//! The demo's command line, read with the kit's `lexopt` helpers like the bench's
//! and the soak's: `-h`/`--help` prints [`USAGE`] and exits 0; an unknown option,
//! a missing or bad value, a stray argument or two options that do not go
//! together print one `error: ...` line and exit 2.

use {
    gpu_alloc_tests::kit::cli::{
        self, invalid_value, lexopt, number, parse_number, value, Command,
    },
    std::path::PathBuf,
};

/// Frames run unless `--frames` says otherwise.
const DEFAULT_FRAMES: u32 = 300;
/// Most worker threads `--threads` takes (the shared allocator's thread arenas;
/// more threads would share them).
pub const MAX_THREADS: u32 = 64;

/// `gpu-alloc-demo --help`.
pub const USAGE: &str = "\
usage: gpu-alloc-demo [--backend ash|erupt|gfx|sim] [--layout FILE.json] [--frames N] [--threads N] [--report DIR] [--validate] [--defrag]

  --backend   ash (default: the first Vulkan device; without a Vulkan driver the
              demo says so and runs on the simulated device), erupt or gfx (the
              same workload on the first Vulkan device through those crates),
              or sim
  --layout    device layout for the simulated device (implies --backend sim;
              default: tests/devices/nvidia-rtx3060ti-linux.json)
  --frames    frames of streaming after the level load (default 300)
  --threads   worker threads (default 1: one thread, one GpuAllocator); N > 1
              (at most 64): N threads share one SharedGpuAllocator, each
              loading, streaming, checking and freeing its share of the assets,
              and freeing the assets the previous thread evicts (ash, erupt
              and sim)
  --report    directory to write memory-map.svg and stats.json into
  --validate  (ash) turn on the Khronos validation layer; any warning or error
              it reports fails the run (gfx: set VK_INSTANCE_LAYERS instead)
  --defrag    make the assets' blocks movable and run defragmentation passes
              (at most 64 moves and 64 MiB each) after every progress line
              and, after the last frame, until nothing is left to move: GPU
              copies to new resources, checked by reading the moved assets
              back; the report shows memory before and after (and --report
              writes memory-map-before-defrag.svg and -after-defrag.svg)
  -h, --help  print this";

/// The device the workload runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Ash,
    Erupt,
    Gfx,
    Sim,
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub struct Args {
    /// `None`: ash, falling back to sim without a driver.
    pub backend: Option<Backend>,
    pub layout: Option<PathBuf>,
    pub frames: u32,
    /// Worker threads: 1 runs the workload on this thread with a
    /// `GpuAllocator`, more share a `SharedGpuAllocator`.
    pub threads: u32,
    pub report: Option<PathBuf>,
    /// Khronos validation layer on (ash), its warnings and errors failing the run.
    pub validate: bool,
    /// Defragmentation passes during and after the run.
    pub defrag: bool,
}

/// This process's command line; exits where it asks for the usage or is bad.
pub fn from_env() -> Args {
    cli::args_or_exit(USAGE, parse)
}

/// Reads a command line (without the program name).
pub fn parse(mut parser: lexopt::Parser) -> Result<Command<Args>, lexopt::Error> {
    use lexopt::Arg::{Long, Short};
    let mut args = Args {
        backend: None,
        layout: None,
        frames: DEFAULT_FRAMES,
        threads: 1,
        report: None,
        validate: false,
        defrag: false,
    };
    while let Some(arg) = parser.next()? {
        match arg {
            Long("backend") => {
                let text = value(&mut parser)?;
                args.backend = Some(match text.as_str() {
                    "ash" => Backend::Ash,
                    "erupt" => Backend::Erupt,
                    "gfx" => Backend::Gfx,
                    "sim" => Backend::Sim,
                    _ => {
                        return Err(invalid_value(
                            "--backend",
                            &text,
                            "not ash, erupt, gfx or sim",
                        ))
                    }
                });
            }
            Long("layout") => args.layout = Some(value(&mut parser)?.into()),
            Long("frames") => args.frames = number(&mut parser, "--frames")?,
            Long("threads") => {
                let text = value(&mut parser)?;
                args.threads = parse_number(&text, "--threads")?;
                if !(1..=MAX_THREADS).contains(&args.threads) {
                    return Err(invalid_value(
                        "--threads",
                        &text,
                        format_args!("not 1 to {MAX_THREADS}"),
                    ));
                }
            }
            Long("report") => args.report = Some(value(&mut parser)?.into()),
            Long("validate") => args.validate = true,
            Long("defrag") => args.defrag = true,
            Short('h') | Long("help") => return Ok(Command::Help),
            _ => return Err(arg.unexpected()),
        }
    }
    if args.validate && !matches!(args.backend, None | Some(Backend::Ash)) {
        return Err("--validate is for the ash backend".into());
    }
    if args.threads > 1 && args.backend == Some(Backend::Gfx) {
        return Err(
            "--threads above 1 is for the ash, erupt and sim backends (the gfx backend \
             has one command pool and queue for one thread)"
                .into(),
        );
    }
    if args.layout.is_some() {
        match args.backend {
            None => args.backend = Some(Backend::Sim),
            Some(Backend::Sim) => {}
            Some(_) => return Err("--layout is for the simulated device (--backend sim)".into()),
        }
    }
    Ok(Command::Run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str]) -> Result<Command<Args>, String> {
        parse(lexopt::Parser::from_args(args)).map_err(|e| e.to_string())
    }

    fn run(args: &[&str]) -> Args {
        match parse_all(args) {
            Ok(Command::Run(args)) => args,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_every_option() {
        assert_eq!(
            run(&[]),
            Args {
                backend: None,
                layout: None,
                frames: 300,
                threads: 1,
                report: None,
                validate: false,
                defrag: false,
            }
        );
        assert_eq!(
            run(&[
                "--backend",
                "ash",
                "--frames=20",
                "--threads",
                "4",
                "--report",
                "out",
                "--validate",
                "--defrag"
            ]),
            Args {
                backend: Some(Backend::Ash),
                layout: None,
                frames: 20,
                threads: 4,
                report: Some("out".into()),
                validate: true,
                defrag: true,
            }
        );
        for (name, backend) in [
            ("erupt", Backend::Erupt),
            ("gfx", Backend::Gfx),
            ("sim", Backend::Sim),
        ] {
            assert_eq!(run(&["--backend", name]).backend, Some(backend));
        }
        assert_eq!(parse_all(&["-h"]), Ok(Command::Help));
    }

    /// `--threads` takes 1 to 64, with every backend that can run threads.
    #[test]
    fn threads() {
        assert_eq!(run(&["--threads", "1"]).threads, 1);
        assert_eq!(run(&["--threads=64"]).threads, 64);
        for backend in ["ash", "erupt", "sim"] {
            let args = run(&["--backend", backend, "--threads", "8"]);
            assert_eq!(args.threads, 8, "{backend}");
        }
        let args = run(&["--layout", "x.json", "--threads", "2"]);
        assert_eq!((args.backend, args.threads), (Some(Backend::Sim), 2));
        // One thread is what the gfx backend always runs.
        assert_eq!(run(&["--backend", "gfx", "--threads", "1"]).threads, 1);
    }

    /// `--layout` means the simulated device, alone or with `--backend sim`.
    #[test]
    fn layout_implies_sim() {
        for args in [
            &["--layout", "x.json"][..],
            &["--backend=sim", "--layout=x.json"],
        ] {
            let args = run(args);
            assert_eq!(args.backend, Some(Backend::Sim));
            assert_eq!(args.layout, Some("x.json".into()));
        }
    }

    #[test]
    fn bad_command_lines() {
        for (args, error) in [
            (&["--frobnicate"][..], "invalid option '--frobnicate'"),
            (&["stray"], r#"unexpected argument "stray""#),
            (&["--frames"], "missing argument for option '--frames'"),
            (
                &["--frames", "--validate"],
                "missing argument for option '--frames'",
            ),
            (
                &["--frames", "-1"],
                "missing argument for option '--frames'",
            ),
            (
                &["--frames", "many"],
                r#"invalid value "many" for option '--frames': invalid digit found in string"#,
            ),
            (
                &["--backend", "vulkan"],
                r#"invalid value "vulkan" for option '--backend': not ash, erupt, gfx or sim"#,
            ),
            (
                &["--validate=yes"],
                r#"unexpected argument for option '--validate': "yes""#,
            ),
            (
                &["--backend", "gfx", "--validate"],
                "--validate is for the ash backend",
            ),
            (
                &["--threads", "0"],
                r#"invalid value "0" for option '--threads': not 1 to 64"#,
            ),
            (
                &["--threads", "65"],
                r#"invalid value "65" for option '--threads': not 1 to 64"#,
            ),
            (
                &["--threads", "two"],
                r#"invalid value "two" for option '--threads': invalid digit found in string"#,
            ),
            (&["--threads"], "missing argument for option '--threads'"),
            (
                &["--backend", "gfx", "--threads", "2"],
                "--threads above 1 is for the ash, erupt and sim backends (the gfx backend \
                 has one command pool and queue for one thread)",
            ),
            (
                &["--backend", "ash", "--layout", "x.json"],
                "--layout is for the simulated device (--backend sim)",
            ),
        ] {
            assert_eq!(parse_all(args), Err(error.to_owned()), "{args:?}");
        }
    }
}
