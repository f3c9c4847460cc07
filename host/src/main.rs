//! The `profcmp` binary: parse the command line, run it, map the outcome to an exit code.

mod args;
mod bench;
mod cli;
mod commands;
mod compare;
mod endpoint;
mod isolate;
mod k8s;
mod load;
mod lock;
mod methods;
mod output;
mod run;
mod serve;
mod simulate;

// mimalloc: glibc's malloc and free were ~15% of a planner replay's CPU (perf); on the defaults'
// run mimalloc saves ~3% CPU and ~15% peak memory (docs/benchmarks.md, "Run"), results unchanged.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = <cli::Cli as clap::Parser>::parse();
    output::init(cli.verbose, cli.quiet, cli.json_events);
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            for cause in error.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            commands::EXIT_FAILURE.into()
        }
    }
}
