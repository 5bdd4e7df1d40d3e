//! Writes the Bodea sample data set and prints what was written.
//!
//! `cargo run --release -p rapport-sample --example generate_bodea -- OUT_DIR [PERSONS] [SEED]`

use std::path::PathBuf;
use std::time::Instant;

use rapport_sample::{generate_bodea, GenerateOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: generate_bodea OUT_DIR [PERSONS] [SEED]")?);
    let defaults = GenerateOptions::default();
    let persons = args.next().map(|s| s.parse()).transpose()?.unwrap_or(defaults.persons);
    let seed = args.next().map(|s| s.parse()).transpose()?.unwrap_or(defaults.seed);
    let started = Instant::now();
    let report = generate_bodea(&out, &GenerateOptions { persons, seed })?;
    let elapsed = started.elapsed();
    for file in &report.files {
        let errors = report.injected_errors.iter().filter(|e| e.file == file.path).count();
        println!("{:<42} {:>9} rows {:>5} injected errors", file.path.display(), file.rows, errors);
    }
    println!("{persons} persons, seed {seed}: {:.2?}", elapsed);
    Ok(())
}
