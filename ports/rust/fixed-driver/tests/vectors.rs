//! spec/vectors/fixed replayed in process (spec/porting.md P5): every answer,
//! region byte and state of the port against the FIXED model's transcripts.

use walproto::vectors::replay_repository_vectors;
use walproto::Driver;

#[test]
fn the_fixed_vectors_pass() {
    let result = replay_repository_vectors("fixed", || Driver::new(fixed_driver::FixedPort::default()));
    let (vectors, done) = result.unwrap_or_else(|errors| panic!("{}", errors.join("\n")));
    assert!(vectors >= 22, "{vectors} vectors");
    assert!(done.states_compared > 0 && done.rewrites > vectors);
    println!("{vectors} vectors: {} requests, {} states compared", done.requests, done.states_compared);
}

/// The replay can fail: a port that forgets D6's mark, and one that loses
/// the last pending record, are each caught by the vectors.
mod planted_bugs {
    use super::*;
    use walproto::{Failure, OpenRequest, Port, Records, State, Stats};

    #[derive(Default)]
    struct Mutant {
        inner: fixed_driver::FixedPort,
        path: String,
        unmark: bool,
        drop_last: bool,
    }

    impl Port for Mutant {
        fn name(&self) -> String {
            "mutant".into()
        }
        fn is_open(&self) -> bool {
            self.inner.is_open()
        }
        fn open(&mut self, request: &OpenRequest) -> Result<(), Failure> {
            self.path = request.path.clone();
            self.inner.open(request)
        }
        fn append(&mut self, payload: &[u8]) -> Result<u64, Failure> {
            let sequence = self.inner.append(payload)?;
            if self.unmark {
                // Erase every SYNC mark in the file: memvid's zeros.
                let mut bytes = std::fs::read(&self.path).unwrap();
                for at in 0..bytes.len().saturating_sub(4) {
                    if &bytes[at..at + 4] == b"SYNC" {
                        bytes[at..at + 4].copy_from_slice(&[0; 4]);
                    }
                }
                std::fs::write(&self.path, bytes).unwrap();
            }
            Ok(sequence)
        }
        fn checkpoint(&mut self) -> Result<(u64, u64), Failure> {
            self.inner.checkpoint()
        }
        fn records_after(&mut self, sequence: u64) -> Result<Records, Failure> {
            self.inner.records_after(sequence)
        }
        fn pending(&mut self) -> Result<Records, Failure> {
            let mut records = self.inner.pending()?;
            if self.drop_last {
                records.pop();
            }
            Ok(records)
        }
        fn stats(&self) -> Stats {
            self.inner.stats()
        }
        fn should_checkpoint(&self) -> bool {
            self.inner.should_checkpoint()
        }
        fn set_skip_sync(&mut self, skip: bool) {
            self.inner.set_skip_sync(skip);
        }
        fn flush(&mut self) -> Result<(), Failure> {
            self.inner.flush()
        }
        fn close(&mut self) {
            self.inner.close();
        }
        fn state(&self) -> Option<State> {
            self.inner.state()
        }
    }

    fn replay_basic(mutant: Mutant) -> Result<(), String> {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let workdir =
            std::env::temp_dir().join(format!("mutant-vectors-{}-{}", std::process::id(), mutant.unmark));
        std::fs::create_dir_all(&workdir).unwrap();
        let mut driver = Driver::new(mutant);
        let result =
            walproto::vectors::replay(&root.join("spec/vectors/fixed/basic.json"), &mut driver, &workdir);
        let _ = std::fs::remove_dir_all(&workdir);
        result.map(|_| ())
    }

    #[test]
    fn a_port_without_the_mark_fails_on_the_region() {
        let error = replay_basic(Mutant { unmark: true, ..Mutant::default() }).unwrap_err();
        assert!(error.contains("region differs"), "{error}");
    }

    #[test]
    fn a_port_that_loses_a_record_fails_on_the_answer() {
        let error = replay_basic(Mutant { drop_last: true, ..Mutant::default() }).unwrap_err();
        assert!(error.contains("expected"), "{error}");
    }
}
