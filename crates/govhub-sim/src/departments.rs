//! All four simulated departments over one population, started together: what
//! `govhub sim` and the demo run, and what identity resolution is measured against.
//! The community resident registry runs beside them over the same population, with its
//! ground truth apart ([`Departments::registry_ground_truth`]), so the four
//! departments' figures stay what they are.

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};

use crate::auth::{BearerCredentials, Credentials};
use crate::civil::{CivilAffairsSim, HOUSEHOLDS_PATH};
use crate::education::{EducationSim, STUDENTS_PATH};
use crate::faults::Faults;
use crate::health::{ENCOUNTERS_PATH, HealthSim};
use crate::population::Population;
use crate::record::Department;
use crate::registry::{RESIDENTS_PATH, RegistrySim};
use crate::server::{RunningSim, serve};
use crate::timeline::Clock;
use crate::urban::{CASES_PATH, UrbanSim};

/// The four departments' simulators, sharing one population and one clock, and the
/// community registry over the same population. Change any field before
/// [`Departments::start`]; the department simulators' own fields (noise, faults,
/// credentials, coverage) are public too.
#[derive(Debug, Clone)]
pub struct Departments {
    /// The residents every department's records are about.
    pub population: Population,
    /// The student registry (all children of the population).
    pub education: EducationSim,
    /// Faults of the student registry.
    pub education_faults: Faults,
    /// The health platform.
    pub health: HealthSim,
    /// The household registry.
    pub civil_affairs: CivilAffairsSim,
    /// The grid case platform.
    pub urban: UrbanSim,
    /// The community resident registry (static: the clock does not change it).
    pub registry: RegistrySim,
    /// The generation every department serves.
    pub clock: Clock,
}

/// Ports to listen on, on 127.0.0.1; 0 picks a free one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    /// Student registry port.
    pub education: u16,
    /// Health platform port.
    pub health: u16,
    /// Household registry port.
    pub civil_affairs: u16,
    /// Grid case platform port.
    pub urban: u16,
    /// Community registry port.
    pub registry: u16,
}

/// One running department: where to reach it and how to authenticate.
#[derive(Debug)]
pub struct RunningDepartment {
    /// Which department.
    pub department: Department,
    /// The full URL of its list endpoint.
    pub url: String,
    /// What a caller must present.
    pub credentials: Credentials,
    /// The server.
    pub server: RunningSim,
}

/// The community registry running: where to reach it and its bearer token. Apart
/// from [`RunningDepartment`] because [`Credentials`] has no bearer variant (callers
/// match on it exhaustively).
#[derive(Debug)]
pub struct RunningRegistry {
    /// The full URL of its list endpoint.
    pub url: String,
    /// The token a caller must send as `Authorization: Bearer <token>`.
    pub credentials: BearerCredentials,
    /// The server.
    pub server: RunningSim,
}

/// The four departments running, and the community registry.
#[derive(Debug)]
pub struct RunningDepartments {
    /// The student registry.
    pub education: RunningDepartment,
    /// The health platform.
    pub health: RunningDepartment,
    /// The household registry.
    pub civil_affairs: RunningDepartment,
    /// The grid case platform.
    pub urban: RunningDepartment,
    /// The community registry; not among [`RunningDepartments::all`].
    pub registry: RunningRegistry,
    /// Their shared clock: [`Clock::advance`] makes them change.
    pub clock: Clock,
}

impl RunningDepartments {
    /// The four, in [`Department::ALL`] order.
    pub fn all(&self) -> [&RunningDepartment; 4] {
        [
            &self.education,
            &self.health,
            &self.civil_affairs,
            &self.urban,
        ]
    }

    /// Stops all four and the registry.
    pub async fn shutdown(self) -> io::Result<()> {
        for running in [self.education, self.health, self.civil_affairs, self.urban] {
            running.server.shutdown().await?;
        }
        self.registry.server.shutdown().await
    }
}

impl Departments {
    /// `residents` residents from `seed`, every department with its defaults (no
    /// faults, default noise, demo credentials) and one shared clock at generation 0.
    pub fn new(seed: u64, residents: u64) -> Departments {
        let population = Population::new(seed, residents);
        let clock = Clock::new();
        Departments {
            education: EducationSim {
                seed,
                students: population.children(),
                invalid_every: 0,
            },
            education_faults: Faults::default(),
            health: HealthSim {
                clock: clock.clone(),
                ..HealthSim::new(population.clone())
            },
            civil_affairs: CivilAffairsSim {
                clock: clock.clone(),
                ..CivilAffairsSim::new(population.clone())
            },
            urban: UrbanSim {
                clock: clock.clone(),
                ..UrbanSim::new(population.clone())
            },
            registry: RegistrySim::new(population.clone()),
            population,
            clock,
        }
    }

    /// Sets the same faults on every department and the registry.
    pub fn with_faults(mut self, faults: Faults) -> Departments {
        self.education_faults = faults;
        self.health.faults = faults;
        self.civil_affairs.faults = faults;
        self.urban.faults = faults;
        self.registry.faults = faults;
        self
    }

    /// Ground truth at the clock's generation: `(department, source record id,
    /// resident index)` for every person entry of every record — the student of an
    /// enrollment, the patient of an encounter, each household member (by member id),
    /// the reporter of a reported grid case.
    pub fn ground_truth(&self) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        let generation = self.clock.generation();
        self.education
            .ground_truth()
            .chain(self.health.ground_truth(generation))
            .chain(self.civil_affairs.ground_truth(generation))
            .chain(self.urban.ground_truth(generation))
    }

    /// Ground truth of the community registry, apart from the four's:
    /// `(Department::Registry, rkbh, resident index)` for every item. The registry is
    /// static, so this does not depend on the clock.
    pub fn registry_ground_truth(&self) -> impl Iterator<Item = (Department, String, u64)> + '_ {
        self.registry.ground_truth()
    }

    /// Writes [`Departments::ground_truth`] as CSV with the header
    /// `department,source_record_id,resident_index`; returns the number of rows. No
    /// field needs quoting: ids are ASCII letters and digits.
    pub fn write_ground_truth_csv(&self, out: impl Write) -> io::Result<u64> {
        let mut out = io::BufWriter::new(out);
        writeln!(out, "department,source_record_id,resident_index")?;
        let mut rows = 0;
        for (department, id, index) in self.ground_truth() {
            writeln!(out, "{department},{id},{index}")?;
            rows += 1;
        }
        out.flush()?;
        Ok(rows)
    }

    /// Starts all four and the registry on 127.0.0.1.
    pub async fn start(&self, ports: Ports) -> io::Result<RunningDepartments> {
        let at = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let running = |department, server: RunningSim, path: &str, credentials| RunningDepartment {
            department,
            url: server.url(path),
            credentials,
            server,
        };
        let education = serve(
            self.education.router_with(self.education_faults),
            at(ports.education),
        )
        .await?;
        let health = serve(self.health.clone().router(), at(ports.health)).await?;
        let civil = serve(self.civil_affairs.clone().router(), at(ports.civil_affairs)).await?;
        let urban = serve(self.urban.clone().router(), at(ports.urban)).await?;
        let registry = serve(self.registry.clone().router(), at(ports.registry)).await?;
        Ok(RunningDepartments {
            education: running(
                Department::Education,
                education,
                STUDENTS_PATH,
                Credentials::None,
            ),
            health: running(
                Department::Health,
                health,
                ENCOUNTERS_PATH,
                Credentials::SignedGateway(self.health.credentials.clone()),
            ),
            civil_affairs: running(
                Department::CivilAffairs,
                civil,
                HOUSEHOLDS_PATH,
                Credentials::Basic(self.civil_affairs.credentials.clone()),
            ),
            urban: running(
                Department::UrbanManagement,
                urban,
                CASES_PATH,
                Credentials::ApiKey(self.urban.credentials.clone()),
            ),
            registry: RunningRegistry {
                url: registry.url(RESIDENTS_PATH),
                credentials: self.registry.credentials.clone(),
                server: registry,
            },
            clock: self.clock.clone(),
        })
    }
}
