//! A broker that checks who is asking: the local secured broker (`GOVHUB_KAFKA_SECURITY=
//! scram deploy/kafka/local.sh up`: SASL/SCRAM-SHA-512 over TLS (SASL_SSL) with a
//! certificate of a throw-away CA, the StandardAuthorizer, no access without an ACL)
//! with the ACLs `govhub acl` prints for a config with two views. govhub publishes with
//! its own credentials (`[kafka.properties]`, the password from the environment, the CA
//! as `ssl.ca.location`); a subscriber reads its view and is refused the source topic
//! and the other subscriber's view; a wrong password is refused, and so is a client
//! that does not trust the CA or does not speak TLS.
//!
//! `./deploy/test.sh` starts that broker (users govhub, urban_app, health_app; govhub's
//! password in GOVHUB_KAFKA_GOVHUB_PASSWORD). By hand:
//!
//! ```sh
//! export GOVHUB_KAFKA_GOVHUB_PASSWORD=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
//! GOVHUB_KAFKA_SECURITY=scram GOVHUB_KAFKA_USERS="urban_app health_app" deploy/kafka/local.sh up
//! cargo test -p govhub-tests --test kafka_acl
//! ```

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use govhub::config::HubConfig;
use govhub::demo::EXAMPLE_CONFIG;
use govhub::hub::Hub;
use govhub_schema::Standard;
use govhub_sim::education::{EducationSim, STUDENTS_PATH};
use govhub_stream::KafkaSinkConfig;
use govhub_tests::random_prefix;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message};
use tokio_util::sync::CancellationToken;

const PASSWORD_VAR: &str = "GOVHUB_KAFKA_GOVHUB_PASSWORD";
const STUDENTS: u64 = 30;

/// The secured broker: bootstrap servers, state dir, the CA certificate clients trust.
struct Secured {
    servers: String,
    home: PathBuf,
    ca: PathBuf,
    passwords: BTreeMap<String, String>,
}

fn how_to_start() -> String {
    "Start it with `GOVHUB_KAFKA_SECURITY=scram GOVHUB_KAFKA_USERS=\"urban_app health_app\" \
     deploy/kafka/local.sh up` (with GOVHUB_KAFKA_GOVHUB_PASSWORD exported), or run \
     `./deploy/test.sh`, which does. GOVHUB_TEST_KAFKA_SECURE (default 127.0.0.1:9094) and \
     GOVHUB_TEST_KAFKA_SECURE_HOME (default target/kafka-scram) say where it is."
        .to_owned()
}

/// Fails the test, saying how to start it, unless the secured broker answers the admin.
fn require_secured_broker() -> Secured {
    let servers =
        std::env::var("GOVHUB_TEST_KAFKA_SECURE").unwrap_or_else(|_| "127.0.0.1:9094".to_owned());
    let home = std::env::var_os("GOVHUB_TEST_KAFKA_SECURE_HOME").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kafka-scram"),
        PathBuf::from,
    );
    let file = home.join("users.passwords");
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "no secured Kafka broker: cannot read {} ({e}). {}",
            file.display(),
            how_to_start()
        )
    });
    let passwords: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, p)| (n.to_owned(), p.to_owned()))
        .collect();
    for user in ["admin", "govhub", "urban_app", "health_app"] {
        assert!(
            passwords.contains_key(user),
            "the secured broker has no user {user}. {}",
            how_to_start()
        );
    }
    let ca = home.join("ca.pem");
    assert!(
        ca.is_file(),
        "the secured broker has no CA certificate {}. {}",
        ca.display(),
        how_to_start()
    );
    let admin = client(&servers, &ca, "admin", &passwords["admin"]);
    let consumer: BaseConsumer<Recorder> = admin.create_with_context(Recorder::default()).unwrap();
    if let Err(e) = consumer.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no secured Kafka broker answers the admin at {servers} ({e}). {}",
            how_to_start()
        );
    }
    Secured {
        servers,
        home,
        ca,
        passwords,
    }
}

/// A SASL/SCRAM-SHA-512 client config of `user`, over TLS trusting the CA `ca`.
fn client(servers: &str, ca: &Path, user: &str, password: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", servers)
        .set("security.protocol", "SASL_SSL")
        .set("ssl.ca.location", ca.to_str().unwrap())
        .set("sasl.mechanisms", "SCRAM-SHA-512")
        .set("sasl.username", user)
        .set("sasl.password", password)
        .set("group.id", format!("{user}.acl-test"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set_log_level(RDKafkaLogLevel::Emerg);
    config
}

/// Records the error codes librdkafka reports through the error callback.
#[derive(Default, Clone)]
struct Recorder {
    errors: Arc<Mutex<Vec<RDKafkaErrorCode>>>,
}

impl ClientContext for Recorder {
    fn error(&self, error: KafkaError, _reason: &str) {
        if let Some(code) = error.rdkafka_error_code() {
            self.errors.lock().unwrap().push(code);
        }
    }
}
impl ConsumerContext for Recorder {}

/// The error the broker answers `user`'s metadata request for `topic` with.
fn topic_metadata_error(consumer: &BaseConsumer<Recorder>, topic: &str) -> Option<RDKafkaRespErr> {
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap();
    found.error()
}

/// Subscribes to `topic` (from the beginning) and polls it for up to `wait`, until `want`
/// messages are read (`want` 0: until the first error): the messages read and the
/// error codes met.
fn consume(
    consumer: &BaseConsumer<Recorder>,
    topic: &str,
    want: usize,
    wait: Duration,
) -> (usize, Vec<RDKafkaErrorCode>) {
    consumer.subscribe(&[topic]).unwrap();
    let deadline = Instant::now() + wait;
    let (mut read, mut errors) = (0, Vec::new());
    while Instant::now() < deadline && (want == 0 || read < want) {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                assert_eq!(message.topic(), topic);
                read += 1;
            }
            Some(Err(e)) => {
                if let Some(code) = e.rdkafka_error_code() {
                    errors.push(code);
                }
            }
            None => {}
        }
        if want == 0 && !(errors.is_empty() && consumer.context().errors.lock().unwrap().is_empty())
        {
            break;
        }
    }
    consumer.unsubscribe();
    // librdkafka reports some errors (authorization among them) through the error
    // callback rather than as a consumer error.
    errors.extend(consumer.context().errors.lock().unwrap().drain(..));
    (read, errors)
}

/// Runs `deploy/kafka/local.sh acl` on `acls` against the secured broker.
fn apply(secured: &Secured, acls: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("acls.txt");
    std::fs::write(&file, acls).unwrap();
    let port = secured
        .servers
        .rsplit_once(':')
        .map(|(_, p)| p.to_owned())
        .unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/kafka/local.sh");
    let output = Command::new(&script)
        .arg("acl")
        .arg(&file)
        .env("GOVHUB_KAFKA_SECURITY", "scram")
        .env("GOVHUB_KAFKA_HOME", &secured.home)
        .env("GOVHUB_KAFKA_PORT", port)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "local.sh acl failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_reads_its_own_view_and_nothing_else() {
    let secured = require_secured_broker();
    let password = std::env::var(PASSWORD_VAR).unwrap_or_else(|_| {
        panic!(
            "{PASSWORD_VAR} is not set: this test gives govhub its password through it, as \
             `sasl.password = \"${{{PASSWORD_VAR}}}\"`. {}",
            how_to_start()
        )
    });
    assert!(
        password == secured.passwords["govhub"],
        "{PASSWORD_VAR} is not the password of the broker's user govhub (in {}/users.passwords): \
         the broker was formatted with another one; `local.sh clean` it and start again",
        secured.home.display()
    );

    // The example config, the education registry only, two views of its records.
    let sim = EducationSim {
        seed: 17,
        students: STUDENTS,
        invalid_every: 0,
    };
    let server = govhub_sim::serve(sim.router(), SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .await
        .unwrap();
    let views = ["urban_app", "health_app"]
        .iter()
        .map(|s| {
            format!(
                "\n[views.{s}.kinds.\"education.enrollment\"]\n\
                 fields = {{ \"/student_id\" = \"share\", \"/grade\" = \"share\" }}\n"
            )
        })
        .collect::<String>();
    let mut config = HubConfig::parse(&format!("{EXAMPLE_CONFIG}{views}"), "example").unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.data_dir = dir.path().to_owned();
    config.topic_prefix = random_prefix();
    config.connectors.retain(|name, _| name == "education");
    config.connectors.get_mut("education").unwrap().url = server.url(STUDENTS_PATH);
    let mut kafka = KafkaSinkConfig::new(&secured.servers);
    kafka.properties.extend(
        [
            ("security.protocol", "SASL_SSL".to_owned()),
            ("ssl.ca.location", secured.ca.to_str().unwrap().to_owned()),
            ("sasl.mechanisms", "SCRAM-SHA-512".to_owned()),
            ("sasl.username", "govhub".to_owned()),
            ("sasl.password", format!("${{{PASSWORD_VAR}}}")),
        ]
        .map(|(k, v)| (k.to_owned(), v)),
    );
    config.kafka = Some(kafka);

    apply(
        &secured,
        &govhub::acl::commands(&config, "User:govhub", "admin.properties").unwrap(),
    );

    // govhub publishes with its own credentials and ACLs.
    let mut hub = Hub::build(&config, Arc::new(Standard::embedded().unwrap()))
        .await
        .unwrap();
    let mut counts = BTreeMap::new();
    hub.sync_all(&mut counts, &CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(counts["education"].published, STUDENTS);
    drop(hub);

    let prefix = &config.topic_prefix;
    let source = format!("{prefix}education.enrollment.v2");
    let own_view = format!("{prefix}view.urban_app.education.enrollment.v2");
    let other_view = format!("{prefix}view.health_app.education.enrollment.v2");

    let urban_app: BaseConsumer<Recorder> = client(
        &secured.servers,
        &secured.ca,
        "urban_app",
        &secured.passwords["urban_app"],
    )
    .create_with_context(Recorder::default())
    .unwrap();

    // Its own view: every record.
    assert_eq!(topic_metadata_error(&urban_app, &own_view), None);
    let (read, errors) = consume(
        &urban_app,
        &own_view,
        STUDENTS as usize,
        Duration::from_secs(30),
    );
    assert_eq!(
        (read, errors),
        (STUDENTS as usize, vec![]),
        "urban_app reads its view"
    );

    // The source topic and the other subscriber's view: refused by the authorizer.
    for topic in [&source, &other_view] {
        assert_eq!(
            topic_metadata_error(&urban_app, topic),
            Some(RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED),
            "metadata of {topic} for urban_app"
        );
        let (read, errors) = consume(&urban_app, topic, 0, Duration::from_secs(10));
        assert_eq!(read, 0, "urban_app read from {topic}");
        assert!(
            errors.contains(&RDKafkaErrorCode::TopicAuthorizationFailed),
            "urban_app consuming {topic}: {errors:?}"
        );
    }

    // A wrong password: the broker refuses to authenticate.
    // The broker answers SASL_AUTHENTICATION_FAILED, which librdkafka reports as its own
    // Authentication error.
    let errors = refused(&client(
        &secured.servers,
        &secured.ca,
        "urban_app",
        "not-the-password",
    ));
    assert!(
        errors.contains(&RDKafkaErrorCode::Authentication),
        "a wrong password: {errors:?}"
    );

    // The right password, but without the CA: the broker's certificate is not trusted.
    let mut no_ca = client(
        &secured.servers,
        &secured.ca,
        "urban_app",
        &secured.passwords["urban_app"],
    );
    no_ca.remove("ssl.ca.location");
    let errors = refused(&no_ca);
    assert!(
        errors.contains(&RDKafkaErrorCode::SSL),
        "without the CA: {errors:?}"
    );

    // The right password in the clear (SASL_PLAINTEXT) on the TLS listener.
    let mut cleartext = client(
        &secured.servers,
        &secured.ca,
        "urban_app",
        &secured.passwords["urban_app"],
    );
    cleartext.set("security.protocol", "SASL_PLAINTEXT");
    cleartext.remove("ssl.ca.location");
    let errors = refused(&cleartext);
    assert!(
        CLEARTEXT_REFUSED.iter().any(|code| errors.contains(code)),
        "SASL_PLAINTEXT on the SASL_SSL listener: {errors:?}"
    );
}

/// What librdkafka reports when the broker closes a connection that did not start with
/// a TLS handshake (librdkafka 2.12 against Kafka 4.1: AllBrokersDown, the only broker
/// having failed; BrokerTransportFailure where it reports the failure itself).
const CLEARTEXT_REFUSED: [RDKafkaErrorCode; 2] = [
    RDKafkaErrorCode::BrokerTransportFailure,
    RDKafkaErrorCode::AllBrokersDown,
];

/// Asserts that a client of `config` gets no metadata; the error codes it met.
fn refused(config: &ClientConfig) -> Vec<RDKafkaErrorCode> {
    let recorder = Recorder::default();
    let consumer: BaseConsumer<Recorder> = config.create_with_context(recorder.clone()).unwrap();
    assert!(
        consumer
            .fetch_metadata(None, Duration::from_secs(5))
            .is_err(),
        "a client that should be refused got metadata"
    );
    // The error callback runs from poll.
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && recorder.errors.lock().unwrap().is_empty() {
        let _ = consumer.poll(Duration::from_millis(200));
    }
    let errors = recorder.errors.lock().unwrap().clone();
    drop(consumer);
    errors
}
