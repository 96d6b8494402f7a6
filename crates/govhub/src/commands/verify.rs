//! `govhub verify`: a run's topics in Kafka checked against the simulators' own truth
//! (`govhub sim --expected FILE`), from the outside: what downstream consumers see.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use govhub::chaos::{
    self, Check, ExpectedRun, Partition, PartitionDiff, RecordKey, Report, RunTopics,
};
use govhub_stream::{KafkaSinkConfig, LogEntry, Topics};

use super::CONFIG_ERROR;

/// `govhub verify --help`: what it checks.
pub const LONG_ABOUT: &str = "\
Check a run's topics in Kafka against what the simulators say it must have published
(`govhub sim --expected FILE`), reading every topic of the run from its beginning to its
end. Prints a short report (counts and source record ids, never personal data) and exits
0 only if every check holds, 1 if one fails or the topics cannot be read, 2 on bad usage.

Checks:
  records    every expected record (by connector and ce_subject) is on its kind's topic,
             or, if the simulators made it invalid, on the dead-letter topic; none is
             missing, misplaced or unknown. Repeated deliveries of one ce_id are counted
             and reported, not failed (delivery is at least once), but one ce_id under
             two different person ids fails.
  resolved   every record published about a person has an identity decision (a link or
             split naming its connector and source record id).
  golden     every person id on a record's latest event has a live golden record: its
             latest value on the person topic is not a tombstone, or a merge retired it
             into a person that has one (chains followed); and every resolved record is
             listed among the sources of its person's live golden record (else it was
             published but is part of no resident).
  partition  with --compare: records grouped into persons (each record's latest link or
             split, followed through merges) as in the other run, compared as groups,
             since person ids may differ between runs.";

/// `govhub verify`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Kafka bootstrap servers (`host:port[,host:port…]`).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap_servers: String,
    /// Topic prefix of the run to check (the config's `topic_prefix`).
    #[arg(long)]
    pub topic_prefix: String,
    /// The expected outcome, as `govhub sim --expected FILE` wrote it.
    #[arg(long, value_name = "FILE")]
    pub expected: PathBuf,
    /// Topic prefix of another run over the same simulators (e.g. a clean one): the
    /// records must be grouped into the same persons.
    #[arg(long, value_name = "OTHER_PREFIX")]
    pub compare: Option<String>,
    /// Give up reading one topic after this many seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub timeout_secs: u64,
    /// Source record ids listed per failing check, at most.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub show: usize,
}

/// Reads the run, checks it, prints the report; exit 0 only if every check holds.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let expected = match ExpectedRun::load(&args.expected) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(CONFIG_ERROR));
        }
    };
    let names = |prefix: &str| {
        Topics::new(prefix).map_err(|e| {
            eprintln!("error: topic prefix {prefix:?}: {e}");
            ExitCode::from(CONFIG_ERROR)
        })
    };
    let topics = match names(&args.topic_prefix) {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let other_topics = match args.compare.as_deref().map(names).transpose() {
        Ok(t) => t,
        Err(code) => return Ok(code),
    };
    let kafka = KafkaSinkConfig::new(&args.bootstrap_servers);
    let timeout = Duration::from_secs(args.timeout_secs);
    let suffixes: Vec<String> = expected
        .kind_topics()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let (run, other) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let read = |topic: String| read(&kafka, &topic, timeout);
        let mut run = RunTopics {
            dlq: read(topics.dlq())?,
            identity: read(topics.identity())?,
            person: read(topics.person())?,
            ..RunTopics::default()
        };
        for suffix in suffixes {
            let entries = read(topics.kind(&suffix))?;
            run.kinds.insert(suffix, entries);
        }
        let other = match other_topics {
            Some(t) => Some(read(t.identity())?),
            None => None,
        };
        Ok((run, other))
    })
    .await
    .context("reading the topics")??;

    let report = chaos::verify(&expected, &run);
    let diff =
        other.map(|identity| Partition::of(&run.identity).compare(&Partition::of(&identity)));
    let mut failed = report.failures();
    if diff.as_ref().is_some_and(|d| !d.is_same()) {
        failed.push(Check::Partition);
    }
    print_report(&args, &expected, &report, diff.as_ref(), &failed);
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read(kafka: &KafkaSinkConfig, topic: &str, timeout: Duration) -> anyhow::Result<Vec<LogEntry>> {
    govhub_stream::kafka::read_topic(kafka, topic, &Default::default(), timeout)
        .with_context(|| format!("reading {topic}"))
}

/// Up to `show` records as `connector/id, …`, with how many more there are.
fn listed(records: &[RecordKey], show: usize) -> String {
    if records.is_empty() {
        return String::new();
    }
    let mut text: Vec<String> = records
        .iter()
        .take(show)
        .map(|(c, id)| format!("{c}/{id}"))
        .collect();
    if records.len() > show {
        text.push(format!("… {} more", records.len() - show));
    }
    format!(": {}", text.join(", "))
}

fn print_report(
    args: &Args,
    expected: &ExpectedRun,
    report: &Report,
    diff: Option<&PartitionDiff>,
    failed: &[Check],
) {
    let show = args.show;
    let verdict = |check: Check| {
        if failed.contains(&check) {
            "FAIL"
        } else {
            "ok"
        }
    };
    println!(
        "govhub verify: topic prefix {}, {} records expected from {} connectors \
         (seed {}, {} residents, generation {})",
        args.topic_prefix,
        expected.records(),
        expected.connectors.len(),
        expected.seed,
        expected.residents,
        expected.generation
    );
    println!("faults: {}\n", expected.faults);
    println!(
        "{:<16} {:>17} {:>17}",
        "connector", "on kind topic", "dead letters"
    );
    for (name, t) in &report.tallies {
        println!(
            "{name:<16} {:>17} {:>17}",
            format!("{}/{}", t.valid_found, t.valid_expected),
            format!("{}/{}", t.invalid_found, t.invalid_expected)
        );
    }
    let k = &report.kind_deliveries;
    let d = &report.dlq_deliveries;
    println!(
        "\ndeliveries: {} events on kind topics, {} distinct ids, {} duplicate deliveries \
         ({} ids more than once); {} dead letters, {} distinct, {} duplicates\n",
        k.events,
        k.distinct,
        k.duplicates(),
        k.repeated_ids,
        d.events,
        d.distinct,
        d.duplicates()
    );

    let line = |check: Check, text: String| println!("{:<5} {:<10} {text}", verdict(check), check);
    let more = |what: &str, records: &[RecordKey]| {
        if !records.is_empty() {
            println!("{:<16} {what}{}", "", listed(records, show));
        }
    };
    line(
        Check::Records,
        format!(
            "{} missing, {} misplaced, {} unknown, {} published under two person ids for one ce_id",
            report.missing.len(),
            report.misplaced.len(),
            report.unknown.len(),
            report.conflicting.len()
        ),
    );
    more("missing", &report.missing);
    more("misplaced", &report.misplaced);
    more("unknown", &report.unknown);
    more("under two person ids", &report.conflicting);
    let unreadable = match report.unreadable_decisions {
        0 => String::new(),
        n => format!("; {n} unreadable identity decisions"),
    };
    line(
        Check::Resolved,
        format!(
            "{} of {} records about a person without an identity decision{unreadable}",
            report.unresolved.len(),
            report.about_persons
        ),
    );
    more("unresolved", &report.unresolved);
    let stale = match report.stale {
        0 => String::new(),
        n => format!("; {n} merged-away persons never tombstoned"),
    };
    line(
        Check::Golden,
        format!(
            "{} person ids on latest events ({} live through a merge), {} orphaned (on {} records); \
             {} records not listed by their person's golden record{stale}",
            report.persons,
            report.via_merge,
            report.orphans,
            report.orphaned.len(),
            report.unlisted.len()
        ),
    );
    more("orphaned", &report.orphaned);
    more("not listed", &report.unlisted);
    if let (Some(diff), Some(other)) = (diff, &args.compare) {
        line(
            Check::Partition,
            format!(
                "{} persons here, {} in {other}: {} records grouped differently, {} resolved here only, {} there only",
                diff.persons_here,
                diff.persons_there,
                diff.regrouped.len(),
                diff.only_here.len(),
                diff.only_there.len()
            ),
        );
        more("grouped differently", &diff.regrouped);
        more("here only", &diff.only_here);
        more("there only", &diff.only_there);
    }
    println!("\nduplicates: {}", k.duplicates() + d.duplicates());
    if failed.is_empty() {
        println!("verdict: PASS");
    } else {
        let names: Vec<String> = failed.iter().map(ToString::to_string).collect();
        println!("verdict: FAIL ({})", names.join(", "));
    }
}
