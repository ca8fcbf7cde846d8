//! The `lifeboat` binary: glue only. Parse the command line, run it, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    lifeboat::cli::main()
}
