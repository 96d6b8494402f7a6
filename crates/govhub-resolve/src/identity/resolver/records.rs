//! Reading the state back: a record as an observation, every record's person, and a
//! person's golden record.

use super::{Resolver, pid_text};
use crate::identity::features::unpack_id;
use crate::identity::golden::{Candidate, Provenance, Rule};
use crate::identity::observation::{Observation, RecordRef, Sex};
use crate::identity::store::{DEAD, NONE};

impl Resolver {
    /// The person id of every live record: `(record, person id)`.
    pub fn assignments(&self) -> impl Iterator<Item = (RecordRef, String)> + '_ {
        self.store
            .recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.person != DEAD)
            .map(|(slot, r)| {
                let (department, connector) = &self.store.sources[usize::from(r.source())];
                (
                    RecordRef {
                        department: department.clone(),
                        connector: connector.clone(),
                        source_record_id: self.store.srid(slot as u32).to_owned(),
                    },
                    pid_text(self.clusters[r.person as usize].pid),
                )
            })
    }

    pub(super) fn observation_of(&self, slot: u32) -> Observation {
        let r = &self.store.recs[slot as usize];
        let (department, connector) = &self.store.sources[usize::from(r.source())];
        let name = self.store.name(slot);
        Observation {
            record: RecordRef {
                department: department.clone(),
                connector: connector.clone(),
                source_record_id: self.store.srid(slot).to_owned(),
            },
            at_ms: i64::from(r.at_s) * 1000,
            name: (!name.is_empty()).then(|| name.to_owned()),
            resident_id: (r.id() != 0).then(|| unpack_id(r.id())),
            resident_id_unverified: (r.unverified() != 0).then(|| unpack_id(r.unverified())),
            sex: match r.sex() {
                1 => Some(Sex::Male),
                2 => Some(Sex::Female),
                _ => None,
            },
            birth_date: (r.birth != 0).then(|| {
                format!(
                    "{:04}-{:02}-{:02}",
                    r.birth / 10_000,
                    r.birth / 100 % 100,
                    r.birth % 100
                )
            }),
            phone: (r.phone() != 0).then(|| r.phone().to_string()),
            division_code: (r.division() != 0).then(|| format!("{:06}", r.division())),
            address: None,
            address_key: Some(self.store.address(slot)).filter(|k| *k != 0),
        }
    }

    /// The person id and golden record of a person (a handle from
    /// [`Outcome::changed`](super::Outcome::changed)); `None` once the person has no records (merged away).
    pub fn golden(&self, cluster: u32) -> Option<(String, serde_json::Value)> {
        let c = self.clusters.get(cluster as usize).filter(|c| c.len > 0)?;
        let mut members = Vec::with_capacity(c.len as usize);
        let mut at = c.head;
        while at != NONE {
            members.push(self.observation_of(at));
            at = self.store.recs[at as usize].next_member;
        }
        members.sort_by(|a, b| a.record.source_record_id.cmp(&b.record.source_record_id));
        let field = |get: &dyn Fn(&Observation) -> Option<String>| {
            members
                .iter()
                .filter_map(|m| {
                    Some(Candidate {
                        value: get(m)?,
                        department: &m.record.department,
                        source_record_id: &m.record.source_record_id,
                        at_ms: m.at_ms,
                    })
                })
                .collect::<Vec<_>>()
        };
        let s = &self.survivorship;
        let fields: [(&str, &Rule, Vec<Candidate<'_>>); 6] = [
            ("name", &s.name, field(&|m| m.name.clone())),
            (
                "resident_id",
                &s.resident_id,
                field(&|m| m.resident_id.clone()),
            ),
            (
                "sex",
                &s.sex,
                field(&|m| m.sex.map(|x| x.as_str().to_owned())),
            ),
            (
                "birth_date",
                &s.birth_date,
                field(&|m| m.birth_date.clone()),
            ),
            ("phone", &s.phone, field(&|m| m.phone.clone())),
            (
                "division_code",
                &s.division_code,
                field(&|m| m.division_code.clone()),
            ),
        ];
        let mut golden = serde_json::Map::new();
        let mut provenance = serde_json::Map::new();
        let mut updated = i64::MIN;
        for m in &members {
            updated = updated.max(m.at_ms);
        }
        golden.insert("person_id".into(), pid_text(c.pid).into());
        golden.insert("version".into(), c.version.into());
        golden.insert("updated_at".into(), rfc3339(updated).into());
        for (name, rule, candidates) in &fields {
            if let Some(chosen) = rule.choose(candidates) {
                golden.insert((*name).into(), chosen.value.clone().into());
                let p = Provenance {
                    department: chosen.department.to_owned(),
                    source_record_id: chosen.source_record_id.to_owned(),
                    at: rfc3339(chosen.at_ms),
                };
                provenance.insert((*name).into(), serde_json::to_value(p).unwrap_or_default());
            }
        }
        let sources: Vec<_> = members.iter().map(|m| &m.record).collect();
        golden.insert(
            "sources".into(),
            serde_json::to_value(sources).unwrap_or_default(),
        );
        golden.insert("provenance".into(), provenance.into());
        Some((pid_text(c.pid), golden.into()))
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
