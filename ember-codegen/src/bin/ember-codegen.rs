//! `ember-codegen`: check, expand and list the routes of an `ember.yaml`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: ember-codegen <command> [FILE]

commands:
  check [FILE]    validate the spec (default ember.yaml); exit 1 with diagnostics on error
  expand [FILE]   print the generated Rust
  routes [FILE]   print the route table: method, path, handler, spec line
";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let file = PathBuf::from(args.next().unwrap_or_else(|| "ember.yaml".to_owned()));
    let color = std::io::stderr().is_terminal();
    match cmd.as_str() {
        "check" | "expand" | "routes" => {}
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("unknown command `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    let plan = match ember_codegen::load(&file) {
        Ok(p) => p,
        Err(d) => {
            eprint!("{}", d.render(color));
            return ExitCode::from(1);
        }
    };
    match cmd.as_str() {
        "check" => eprintln!("{}: ok, {} routes", file.display(), plan.routes.len()),
        "expand" => print!("{}", ember_codegen::emit(&plan)),
        _ => {
            let rows: Vec<[String; 4]> = plan
                .routes
                .iter()
                .map(|r| {
                    [
                        r.method.keyword().to_owned(),
                        r.path.clone(),
                        r.handler.clone(),
                        format!("{}:{}", plan.file, r.line),
                    ]
                })
                .collect();
            let header = ["METHOD", "PATH", "HANDLER", "SPEC"].map(str::to_owned);
            let mut widths = [0usize; 4];
            for row in std::iter::once(&header).chain(&rows) {
                for (w, c) in widths.iter_mut().zip(row) {
                    *w = (*w).max(c.chars().count());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                let line: Vec<String> = row
                    .iter()
                    .zip(widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                println!("{}", line.join("  ").trim_end());
            }
        }
    }
    ExitCode::SUCCESS
}
