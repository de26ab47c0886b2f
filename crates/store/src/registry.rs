//! Regions, facilities, households and persons, and their history of entry, exit and change.

use std::collections::HashMap;

use huimin_domain::{
    Date, Ethnicity, Facility, FacilityLevel, Household, HouseholdNo, IdNumber, Person, PersonName,
    Phone, PovertyCategory, PovertyCause, PovertyStatus, Region, RegionCode, Relation,
};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::batch::{Val, insert_rows, placeholders};
use crate::county;
use crate::{Result, Store, StoreError, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Entry,
    Exit,
    Change,
}

impl EventKind {
    pub fn code(self) -> &'static str {
        match self {
            EventKind::Entry => "entry",
            EventKind::Exit => "exit",
            EventKind::Change => "change",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            EventKind::Entry => "准入",
            EventKind::Exit => "退出",
            EventKind::Change => "变更",
        }
    }

    fn from_code(s: &str) -> Option<Self> {
        Some(match s {
            "entry" => EventKind::Entry,
            "exit" => EventKind::Exit,
            "change" => EventKind::Change,
            _ => return None,
        })
    }
}

/// What an event says: its kind, why, and for a change the fields as `{field: [before, after]}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EventInput {
    pub kind: EventKind,
    pub reason: String,
    pub changes: Option<serde_json::Value>,
}

/// A recorded entry, exit or change of a household or one of its persons.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegistryEvent {
    pub id: i64,
    pub household_no: String,
    pub person_id: Option<i64>,
    pub person_name: Option<String>,
    pub kind: EventKind,
    pub effective_date: Date,
    pub reason: String,
    pub changes: Option<serde_json::Value>,
    pub actor: String,
    pub recorded_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredHousehold {
    pub household: Household,
    pub in_programme: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPerson {
    pub id: i64,
    pub person: Person,
    pub in_programme: bool,
}

/// The registry's current state for a set of regions, to compare a new roster with.
#[derive(Debug, Default)]
pub struct RegistrySnapshot {
    pub households: HashMap<HouseholdNo, StoredHousehold>,
    pub persons: HashMap<IdNumber, StoredPerson>,
    /// The households' current economics (their newest record), where recorded.
    pub economics: HashMap<String, crate::Economics>,
}

/// Everything one roster import changes, applied in a single transaction.
#[derive(Debug, Default)]
pub struct RosterChanges {
    pub file_name: String,
    pub actor: String,
    pub effective_date: Option<Date>,
    pub summary: serde_json::Value,
    /// Households to insert or update (and mark as in the programme), each with its event.
    pub households: Vec<(Household, Option<EventInput>)>,
    pub persons: Vec<(Person, Option<EventInput>)>,
    pub household_exits: Vec<(HouseholdNo, String)>,
    /// (person id, household number, reason)
    pub person_exits: Vec<(i64, HouseholdNo, String)>,
    /// Households' economics to record as of the effective date (size, per-capita income,
    /// monitoring category), where the file's differ from the current ones.
    pub economics: Vec<(HouseholdNo, u32, Option<huimin_domain::Money>, Option<huimin_domain::MonitoringCategory>)>,
    /// Recorded in the audit log in the same transaction.
    pub audit: Option<crate::AuditEntry>,
}

/// A person found by a search, with the household's region and attributes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonHit {
    pub person_id: i64,
    pub name: String,
    pub id_number: IdNumber,
    pub household_no: String,
    pub region_code: RegionCode,
    pub category: PovertyCategory,
    pub in_programme: bool,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RegistryCounts {
    pub households: i64,
    pub persons: i64,
    pub households_by_category: Vec<(PovertyCategory, i64)>,
    pub illness_households: i64,
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(crate) fn date_text(d: Date) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_date(s: &str) -> Result<Date> {
    Date::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt("date", e))
}

/// The prefix of every code inside `region`, bound as `$n` in `region_code >= $n AND
/// region_code < $n || ':'` (':' sorts after the digits): a range the region index serves on
/// both backends, where `LIKE 'prefix%'` would scan the whole table on SQLite.
pub(crate) fn within(region: RegionCode) -> String {
    region.prefix()
}

fn household_from_row(row: &AnyRow) -> Result<StoredHousehold> {
    let text = |c: &str| row.try_get::<String, _>(c);
    let cat = text("category")?;
    let status = text("status")?;
    let cause = text("cause")?;
    let household = Household {
        no: HouseholdNo::parse(&text("household_no")?).map_err(|e| corrupt("household_no", e))?,
        region: RegionCode::parse(&text("region_code")?).map_err(|e| corrupt("region_code", e))?,
        head_name: PersonName::parse(&text("head_name")?).map_err(|e| corrupt("head_name", e))?,
        category: PovertyCategory::from_code(&cat).ok_or_else(|| corrupt("category", &cat))?,
        status: PovertyStatus::from_code(&status).ok_or_else(|| corrupt("status", &status))?,
        cause: PovertyCause::from_code(&cause).ok_or_else(|| corrupt("cause", &cause))?,
        phone: row.try_get::<Option<String>, _>("phone")?.map(|p| Phone::parse(&p)).transpose().map_err(|e| corrupt("phone", e))?,
    };
    Ok(StoredHousehold { household, in_programme: row.try_get::<i64, _>("in_programme")? != 0 })
}

fn person_from_row(row: &AnyRow) -> Result<StoredPerson> {
    let text = |c: &str| row.try_get::<String, _>(c);
    let relation = text("relation")?;
    let person = Person {
        id_number: IdNumber::parse(&text("id_number")?).map_err(|e| corrupt("id_number", e))?,
        household_no: HouseholdNo::parse(&text("household_no")?).map_err(|e| corrupt("household_no", e))?,
        name: PersonName::parse(&text("name")?).map_err(|e| corrupt("name", e))?,
        relation: Relation::from_code(&relation).ok_or_else(|| corrupt("relation", &relation))?,
        ethnicity: Ethnicity::parse(&text("ethnicity")?).map_err(|e| corrupt("ethnicity", e))?,
        phone: row.try_get::<Option<String>, _>("phone")?.map(|p| Phone::parse(&p)).transpose().map_err(|e| corrupt("phone", e))?,
    };
    Ok(StoredPerson { id: row.try_get("id")?, person, in_programme: row.try_get::<i64, _>("in_programme")? != 0 })
}

const HOUSEHOLD_COLUMNS: &str = "household_no, region_code, head_name, category, status, cause, phone, in_programme";
const PERSON_COLUMNS: &str = "id, id_number, household_no, name, relation, ethnicity, phone, in_programme";

impl Store {
    // ----- regions -----

    /// Inserts or renames regions, parents before children, in one transaction.
    pub async fn upsert_regions(&self, regions: &[Region]) -> Result<()> {
        let mut sorted: Vec<&Region> = regions.iter().collect();
        sorted.sort_by_key(|r| (r.code.level(), r.code));
        let rows = sorted
            .into_iter()
            .map(|r| {
                vec![
                    Val::from(r.code.to_string()),
                    r.name.as_str().into(),
                    (r.code.level() as i64).into(),
                    Val::from(r.code.parent().map(|p| p.to_string())),
                ]
            })
            .collect();
        let mut tx = self.begin_write().await?;
        insert_rows(
            &mut tx,
            self.backend,
            "regions",
            &["code", "name", "level", "parent_code"],
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name",
            rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn region(&self, code: RegionCode) -> Result<Option<Region>> {
        let row = sqlx::query("SELECT code, name FROM regions WHERE code = $1")
            .bind(code.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| region_from_row(&r)).transpose()
    }

    pub async fn child_regions(&self, code: RegionCode) -> Result<Vec<Region>> {
        let rows = sqlx::query("SELECT code, name FROM regions WHERE parent_code = $1 ORDER BY code")
            .bind(code.to_string())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(region_from_row).collect()
    }

    /// `code` and every region below it, by code, at most `limit`.
    pub async fn regions_within(&self, code: RegionCode, limit: i64) -> Result<Vec<Region>> {
        let rows = sqlx::query("SELECT code, name FROM regions WHERE code >= $1 AND code < $1 || ':' ORDER BY code LIMIT $2")
            .bind(within(code))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(region_from_row).filter(|r| r.as_ref().map_or(true, |r| code.contains(r.code))).collect()
    }

    /// The top of the tree: regions without a parent in the store.
    pub async fn root_regions(&self) -> Result<Vec<Region>> {
        let rows = sqlx::query(
            "SELECT code, name FROM regions r WHERE parent_code IS NULL \
             OR NOT EXISTS (SELECT 1 FROM regions p WHERE p.code = r.parent_code) ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(region_from_row).collect()
    }

    /// Every region code in the store, with its level (for checking imports).
    pub async fn region_codes(&self) -> Result<HashMap<RegionCode, String>> {
        let rows = sqlx::query("SELECT code, name FROM regions").fetch_all(&self.pool).await?;
        rows.iter().map(|r| region_from_row(r).map(|r| (r.code, r.name))).collect()
    }

    // ----- facilities -----

    pub async fn upsert_facilities(&self, facilities: &[Facility]) -> Result<()> {
        let rows = facilities
            .iter()
            .map(|f| {
                vec![
                    Val::from(f.code.as_str()),
                    f.name.as_str().into(),
                    f.level.number().into(),
                    f.kind.as_str().into(),
                    f.region.to_string().into(),
                    i64::from(f.designated).into(),
                    i64::from(f.poverty_beds).into(),
                ]
            })
            .collect();
        let mut tx = self.begin_write().await?;
        insert_rows(
            &mut tx,
            self.backend,
            "facilities",
            &["code", "name", "level", "kind", "region_code", "designated", "poverty_beds"],
            "ON CONFLICT (code) DO UPDATE SET name = excluded.name, level = excluded.level, kind = excluded.kind, \
             region_code = excluded.region_code, designated = excluded.designated, poverty_beds = excluded.poverty_beds",
            rows,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn facility(&self, code: &str) -> Result<Option<Facility>> {
        let row = sqlx::query("SELECT code, name, level, kind, region_code, designated, poverty_beds FROM facilities WHERE code = $1")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(facility_from_row).transpose()
    }

    /// Facilities inside `region`, by level (highest first) then code.
    pub async fn facilities(&self, region: RegionCode) -> Result<Vec<Facility>> {
        let rows = sqlx::query(
            "SELECT code, name, level, kind, region_code, designated, poverty_beds FROM facilities \
             WHERE region_code >= $1 AND region_code < $1 || ':' ORDER BY level DESC, code",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(facility_from_row).collect()
    }

    // ----- households and persons -----

    /// The households inside `scope` and their persons, plus the persons with the given ID
    /// numbers wherever they are registered (a roster may move a person between households).
    /// The latest effective date of the registry's history for the households in `scope`: an
    /// import may not take effect before it (history would be written out of order).
    pub async fn last_registry_event(&self, scope: &[RegionCode]) -> Result<Option<Date>> {
        let mut last: Option<Date> = None;
        for region in scope {
            let d: Option<String> = sqlx::query_scalar(
                "SELECT MAX(e.effective_date) FROM registry_events e JOIN households h ON h.household_no = e.household_no \
                 WHERE h.region_code >= $1 AND h.region_code < $1 || ':'",
            )
            .bind(within(*region))
            .fetch_one(&self.pool)
            .await?;
            if let Some(d) = d {
                let d = parse_date(&d)?;
                last = last.max(Some(d));
            }
        }
        Ok(last)
    }

    pub async fn registry_snapshot(&self, scope: &[RegionCode], also_persons: &[IdNumber]) -> Result<RegistrySnapshot> {
        let mut snap = RegistrySnapshot::default();
        for region in scope {
            let rows = sqlx::query(&format!("SELECT {HOUSEHOLD_COLUMNS} FROM households WHERE region_code >= $1 AND region_code < $1 || ':'"))
                .bind(within(*region))
                .fetch_all(&self.pool)
                .await?;
            for row in &rows {
                let h = household_from_row(row)?;
                snap.households.insert(h.household.no.clone(), h);
            }
            let rows = sqlx::query(&format!(
                "SELECT p.id, p.id_number, p.household_no, p.name, p.relation, p.ethnicity, p.phone, p.in_programme \
                 FROM persons p JOIN households h ON h.household_no = p.household_no WHERE h.region_code >= $1 AND h.region_code < $1 || ':'"
            ))
            .bind(within(*region))
            .fetch_all(&self.pool)
            .await?;
            for row in &rows {
                let p = person_from_row(row)?;
                snap.persons.insert(p.person.id_number.clone(), p);
            }
        }
        for region in scope {
            snap.economics.extend(self.current_economics(*region).await?);
        }
        let missing: Vec<String> =
            also_persons.iter().filter(|id| !snap.persons.contains_key(*id)).map(|id| id.as_str().to_string()).collect();
        for chunk in missing.chunks(5000) {
            let sql = format!(
                "SELECT {PERSON_COLUMNS} FROM persons WHERE id_number IN ({})",
                placeholders(self.backend, 1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id.as_str());
            }
            for row in &q.fetch_all(&self.pool).await? {
                let p = person_from_row(row)?;
                snap.persons.insert(p.person.id_number.clone(), p);
            }
        }
        Ok(snap)
    }

    /// The county of every household a roster import writes about, by number: a household's
    /// stays the one it is stored in. A household or person the file places in another county
    /// than the stored one is refused: a move between counties moves every row of their files
    /// (docs/scaling.md) and is not a roster change.
    async fn roster_counties(&self, tx: &mut crate::tx::WriteTx, changes: &RosterChanges) -> Result<HashMap<String, String>> {
        if self.backend == crate::Backend::Postgres {
            // An ID number's uniqueness across counties is this check's, not a key's (PostgreSQL's
            // keys carry the county): roster imports take turns, each seeing the last one's rows.
            sqlx::query("SELECT pg_advisory_xact_lock(2202)").execute(&mut **tx).await?;
        }
        let mut numbers: Vec<&str> = changes.households.iter().map(|(h, _)| h.no.as_str()).collect();
        numbers.extend(changes.persons.iter().map(|(p, _)| p.household_no.as_str()));
        numbers.extend(changes.economics.iter().map(|(no, ..)| no.as_str()));
        numbers.extend(changes.person_exits.iter().map(|(_, no, _)| no.as_str()));
        numbers.extend(changes.household_exits.iter().map(|(no, _)| no.as_str()));
        numbers.sort_unstable();
        numbers.dedup();
        let mut counties = county::stored(tx, self.backend, "households", "household_no", &numbers).await?;
        for (h, _) in &changes.households {
            let new = county::of(h.region);
            match counties.get(h.no.as_str()) {
                Some(stored) if *stored != new => {
                    return Err(StoreError::Refused(format!(
                        "户编号 {} 已登记在县 {stored}，本名单将其列在县 {new}：跨县迁移须由迁出县办理转出后再导入",
                        h.no.as_str()
                    )));
                }
                Some(_) => {}
                None => {
                    counties.insert(h.no.as_str().to_string(), new);
                }
            }
        }
        let ids: Vec<&str> = changes.persons.iter().map(|(p, _)| p.id_number.as_str()).collect();
        let stored = county::stored(tx, self.backend, "persons", "id_number", &ids).await?;
        for (p, _) in &changes.persons {
            let new = counties.get(p.household_no.as_str()).map(String::as_str).unwrap_or_default();
            if let Some(old) = stored.get(p.id_number.as_str()).filter(|old| old.as_str() != new) {
                return Err(StoreError::Refused(format!(
                    "身份证号 {} 的人员已登记在县 {old}，本名单将其列入县 {new} 的户 {}：跨县迁移须由迁出县办理转出后再导入",
                    p.id_number.masked(),
                    p.household_no.as_str()
                )));
            }
        }
        Ok(counties)
    }

    /// Applies a roster import in one transaction and returns the import's id.
    pub async fn apply_roster(&self, changes: RosterChanges) -> Result<i64> {
        let at = now();
        let effective = date_text(changes.effective_date.unwrap_or_else(|| huimin_domain::local_date(chrono::Utc::now())));
        let actor = changes.actor.clone();
        let mut tx = self.begin_write().await?;
        let import_id: i64 = sqlx::query_scalar(
            "INSERT INTO imports (kind, file_name, actor, recorded_at, effective_date, summary) \
             VALUES ('roster', $1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&changes.file_name)
        .bind(&actor)
        .bind(&at)
        .bind(&effective)
        .bind(changes.summary.to_string())
        .fetch_one(&mut *tx)
        .await?;

        let counties = self.roster_counties(&mut tx, &changes).await?;
        let written = changes.households.len() + changes.persons.len();
        let county = |household_no: &str| -> Val<'_> { counties.get(household_no).map(String::as_str).unwrap_or_default().into() };
        let event_row = |household_no: &str, person_id: Option<i64>, e: &EventInput| -> Vec<Val<'_>> {
            vec![
                county(household_no),
                Val::from(household_no.to_string()),
                Val::from(person_id),
                e.kind.code().into(),
                effective.as_str().into(),
                e.reason.clone().into(),
                Val::from(e.changes.as_ref().map(|c| c.to_string())),
                actor.as_str().into(),
                at.as_str().into(),
                import_id.into(),
            ]
        };
        let mut events = Vec::new();

        let mut rows = Vec::with_capacity(changes.households.len());
        for (h, event) in &changes.households {
            rows.push(vec![
                county(h.no.as_str()),
                Val::from(h.no.as_str()),
                h.region.to_string().into(),
                h.head_name.as_str().into(),
                h.category.code().into(),
                h.status.code().into(),
                h.cause.code().into(),
                Val::from(h.phone.as_ref().map(|p| p.as_str())),
                1i64.into(),
                at.as_str().into(),
            ]);
            if let Some(e) = event {
                events.push(event_row(h.no.as_str(), None, e));
            }
        }
        insert_rows(
            &mut tx,
            self.backend,
            "households",
            &["county_code", "household_no", "region_code", "head_name", "category", "status", "cause", "phone", "in_programme", "updated_at"],
            &(county::on_conflict(self.backend, "household_no")
                + " DO UPDATE SET region_code = excluded.region_code, head_name = excluded.head_name, \
             category = excluded.category, status = excluded.status, cause = excluded.cause, phone = excluded.phone, \
             in_programme = 1, updated_at = excluded.updated_at"),
            rows,
        )
        .await
        .map_err(|e| fk_message(e, "户的行政区划代码不在区划表中"))?;

        let rows = changes
            .economics
            .iter()
            .map(|(no, size, income, category)| {
                vec![
                    county(no.as_str()),
                    Val::from(no.as_str()),
                    effective.as_str().into(),
                    i64::from(*size).into(),
                    Val::from(income.map(|m| m.fen())),
                    Val::from(category.map(|c| c.code())),
                    actor.as_str().into(),
                    at.as_str().into(),
                ]
            })
            .collect();
        insert_rows(
            &mut tx,
            self.backend,
            "household_economics",
            &["county_code", "household_no", "as_of", "size", "per_capita_income", "monitoring_category", "recorded_by", "recorded_at"],
            "",
            rows,
        )
        .await?;

        // Built a chunk at a time: a million persons' bound values at once would double the memory.
        let mut returned = Vec::with_capacity(changes.persons.len());
        for chunk in changes.persons.chunks(20_000) {
            let rows = chunk
                .iter()
                .map(|(p, _)| {
                    let id = &p.id_number;
                    vec![
                        county(p.household_no.as_str()),
                        Val::from(id.as_str()),
                        p.household_no.as_str().into(),
                        p.name.as_str().into(),
                        p.name.initials().into(),
                        p.relation.code().into(),
                        id.sex().as_str().into(),
                        date_text(id.birth_date()).into(),
                        p.ethnicity.as_str().into(),
                        Val::from(p.phone.as_ref().map(|p| p.as_str())),
                        1i64.into(),
                        at.as_str().into(),
                    ]
                })
                .collect();
            returned.extend(
                insert_rows(
                    &mut tx,
                    self.backend,
                    "persons",
                    &["county_code", "id_number", "household_no", "name", "initials", "relation", "sex", "birth_date", "ethnicity", "phone", "in_programme", "updated_at"],
                    &(county::on_conflict(self.backend, "id_number") + " DO UPDATE SET household_no = excluded.household_no, name = excluded.name, \
                     initials = excluded.initials, relation = excluded.relation, ethnicity = excluded.ethnicity, \
                     phone = excluded.phone, in_programme = 1, updated_at = excluded.updated_at RETURNING id, id_number"),
                    rows,
                )
                .await?,
            );
        }
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(returned.len());
        for row in &returned {
            ids.insert(row.try_get("id_number")?, row.try_get("id")?);
        }
        for (p, event) in &changes.persons {
            if let Some(e) = event {
                let id = ids.get(p.id_number.as_str()).copied().ok_or_else(|| corrupt("person id", "not returned"))?;
                events.push(event_row(p.household_no.as_str(), Some(id), e));
            }
        }

        for (id, household_no, reason) in &changes.person_exits {
            sqlx::query("UPDATE persons SET in_programme = 0, updated_at = $1 WHERE id = $2")
                .bind(&at)
                .bind(*id)
                .execute(&mut *tx)
                .await?;
            let e = EventInput { kind: EventKind::Exit, reason: reason.clone(), changes: None };
            events.push(event_row(household_no.as_str(), Some(*id), &e));
        }
        for (no, reason) in &changes.household_exits {
            sqlx::query("UPDATE households SET in_programme = 0, updated_at = $1 WHERE household_no = $2")
                .bind(&at)
                .bind(no.as_str())
                .execute(&mut *tx)
                .await?;
            let e = EventInput { kind: EventKind::Exit, reason: reason.clone(), changes: None };
            events.push(event_row(no.as_str(), None, &e));
        }
        insert_rows(
            &mut tx,
            self.backend,
            "registry_events",
            &["county_code", "household_no", "person_id", "kind", "effective_date", "reason", "changes", "actor", "recorded_at", "import_id"],
            "",
            events,
        )
        .await?;
        if let Some(audit) = &changes.audit {
            let mut audit = audit.clone();
            audit.detail = format!("import {import_id}: {}", changes.summary);
            crate::access::append_audit_in(&mut tx, &audit).await?;
        }
        tx.commit().await?;
        self.analyze(written, &["households", "persons", "registry_events", "household_economics"]).await?;
        Ok(import_id)
    }

    pub async fn household(&self, no: &HouseholdNo) -> Result<Option<StoredHousehold>> {
        let row = sqlx::query(&format!("SELECT {HOUSEHOLD_COLUMNS} FROM households WHERE household_no = $1"))
            .bind(no.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(household_from_row).transpose()
    }

    /// The household's persons, in the programme or not, head first.
    pub async fn household_members(&self, no: &HouseholdNo) -> Result<Vec<StoredPerson>> {
        let rows = sqlx::query(&format!(
            "SELECT {PERSON_COLUMNS} FROM persons WHERE household_no = $1 \
             ORDER BY CASE WHEN relation = 'head' THEN 0 ELSE 1 END, birth_date"
        ))
        .bind(no.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(person_from_row).collect()
    }

    pub async fn person(&self, id: i64) -> Result<Option<StoredPerson>> {
        let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM persons WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(person_from_row).transpose()
    }

    pub async fn person_by_id_number(&self, id_number: &IdNumber) -> Result<Option<StoredPerson>> {
        let row = sqlx::query(&format!("SELECT {PERSON_COLUMNS} FROM persons WHERE id_number = $1"))
            .bind(id_number.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(person_from_row).transpose()
    }

    /// The history of a household and its persons, oldest first.
    /// The persons in the programme inside `region`, each with their household's region, by
    /// household and person.
    pub async fn persons_in_region(&self, region: RegionCode) -> Result<Vec<(StoredPerson, RegionCode)>> {
        let rows = sqlx::query(&format!(
            "SELECT {}, h.region_code FROM persons p JOIN households h ON h.household_no = p.household_no \
             WHERE p.in_programme = 1 AND h.region_code >= $1 AND h.region_code < $1 || ':' ORDER BY h.region_code, p.household_no, p.id",
            PERSON_COLUMNS.split(", ").map(|c| format!("p.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((person_from_row(r)?, RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?))).collect()
    }

    pub async fn household_history(&self, no: &HouseholdNo) -> Result<Vec<RegistryEvent>> {
        let rows = sqlx::query(
            "SELECT e.id, e.household_no, e.person_id, p.name AS person_name, e.kind, e.effective_date, e.reason, \
             e.changes, e.actor, e.recorded_at FROM registry_events e LEFT JOIN persons p ON p.id = e.person_id \
             WHERE e.household_no = $1 ORDER BY e.effective_date, e.id",
        )
        .bind(no.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Records a person's exit (退出) or entry (准入) on `date`, with who and why.
    pub async fn record_person_event(&self, person_id: i64, kind: EventKind, date: Date, reason: &str, actor: &str) -> Result<()> {
        if kind == EventKind::Change {
            return Err(StoreError::Conflict("a change is recorded with the changed data".into()));
        }
        let mut tx = self.begin_write().await?;
        let found: Option<(String, String)> = sqlx::query_as("SELECT household_no, county_code FROM persons WHERE id = $1")
            .bind(person_id)
            .fetch_optional(&mut *tx)
            .await?;
        let (household_no, county_code) = found.ok_or_else(|| StoreError::NotFound(format!("person {person_id}")))?;
        let flag = i64::from(kind == EventKind::Entry);
        let at = now();
        sqlx::query("UPDATE persons SET in_programme = $1, updated_at = $2 WHERE id = $3")
            .bind(flag)
            .bind(&at)
            .bind(person_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO registry_events (household_no, person_id, kind, effective_date, reason, actor, recorded_at, county_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&household_no)
        .bind(person_id)
        .bind(kind.code())
        .bind(date_text(date))
        .bind(reason)
        .bind(actor)
        .bind(&at)
        .bind(&county_code)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether the person was in the programme on `date`: the last entry or exit on or before it decides.
    pub async fn in_programme_on(&self, person_id: i64, date: Date) -> Result<bool> {
        let kind: Option<String> = sqlx::query_scalar(
            "SELECT kind FROM registry_events WHERE person_id = $1 AND kind <> 'change' AND effective_date <= $2 \
             ORDER BY effective_date DESC, id DESC LIMIT 1",
        )
        .bind(person_id)
        .bind(date_text(date))
        .fetch_optional(&self.pool)
        .await?;
        Ok(kind.as_deref() == Some("entry"))
    }

    /// Finds persons inside `region` by name, pinyin initials (`zs` → 张三), ID number or household number.
    pub async fn search_persons(&self, region: RegionCode, query: &str, limit: i64) -> Result<Vec<PersonHit>> {
        let Some((cond, arg)) = person_match(query, 2) else { return Ok(Vec::new()) };
        let base = "SELECT p.id, p.name, p.id_number, p.household_no, h.region_code, h.category, p.in_programme \
                    FROM persons p JOIN households h ON h.household_no = p.household_no WHERE h.region_code >= $1 AND h.region_code < $1 || ':' AND ";
        let rows = sqlx::query(&format!("{base}{cond} ORDER BY p.in_programme DESC, p.name, p.id LIMIT $3"))
            .bind(within(region))
            .bind(arg)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let cat: String = r.try_get("category")?;
                Ok(PersonHit {
                    person_id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    id_number: IdNumber::parse(&r.try_get::<String, _>("id_number")?).map_err(|e| corrupt("id_number", e))?,
                    household_no: r.try_get("household_no")?,
                    region_code: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
                    category: PovertyCategory::from_code(&cat).ok_or_else(|| corrupt("category", &cat))?,
                    in_programme: r.try_get::<i64, _>("in_programme")? != 0,
                })
            })
            .collect()
    }

    /// Households and persons in the programme inside `region`.
    pub async fn registry_counts(&self, region: RegionCode) -> Result<RegistryCounts> {
        let mut counts = RegistryCounts::default();
        let rows = sqlx::query(
            "SELECT category, COUNT(*) AS n, CAST(SUM(CASE WHEN cause = 'illness' THEN 1 ELSE 0 END) AS BIGINT) AS ill \
             FROM households WHERE in_programme = 1 AND region_code >= $1 AND region_code < $1 || ':' GROUP BY category ORDER BY category",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        for r in &rows {
            let cat: String = r.try_get("category")?;
            let n: i64 = r.try_get("n")?;
            counts.households += n;
            counts.illness_households += r.try_get::<i64, _>("ill")?;
            counts.households_by_category.push((PovertyCategory::from_code(&cat).ok_or_else(|| corrupt("category", &cat))?, n));
        }
        counts.persons = sqlx::query_scalar(
            "SELECT COUNT(*) FROM persons p JOIN households h ON h.household_no = p.household_no \
             WHERE p.in_programme = 1 AND h.region_code >= $1 AND h.region_code < $1 || ':'",
        )
        .bind(within(region))
        .fetch_one(&self.pool)
        .await?;
        Ok(counts)
    }
}

fn facility_from_row(r: &AnyRow) -> Result<Facility> {
    Ok(Facility {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        level: FacilityLevel::from_number(r.try_get("level")?).ok_or_else(|| corrupt("facility level", "?"))?,
        kind: r.try_get("kind")?,
        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
        designated: r.try_get::<i64, _>("designated")? != 0,
        poverty_beds: u32::try_from(r.try_get::<i64, _>("poverty_beds")?).map_err(|e| corrupt("beds", e))?,
    })
}

fn region_from_row(r: &AnyRow) -> Result<Region> {
    Ok(Region {
        code: RegionCode::parse(&r.try_get::<String, _>("code")?).map_err(|e| corrupt("region code", e))?,
        name: r.try_get("name")?,
    })
}

fn event_from_row(r: &AnyRow) -> Result<RegistryEvent> {
    let kind: String = r.try_get("kind")?;
    let changes: Option<String> = r.try_get("changes")?;
    Ok(RegistryEvent {
        id: r.try_get("id")?,
        household_no: r.try_get("household_no")?,
        person_id: r.try_get("person_id")?,
        person_name: r.try_get("person_name")?,
        kind: EventKind::from_code(&kind).ok_or_else(|| corrupt("event kind", &kind))?,
        effective_date: parse_date(&r.try_get::<String, _>("effective_date")?)?,
        reason: r.try_get("reason")?,
        changes: changes.map(|c| serde_json::from_str(&c)).transpose().map_err(|e| corrupt("changes", e))?,
        actor: r.try_get("actor")?,
        recorded_at: r.try_get("recorded_at")?,
    })
}

/// A foreign-key failure means the input named something that does not exist; say what.
pub(crate) fn fk_message(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict(what.to_string()),
        _ => StoreError::Database(e),
    }
}

/// Filters of the household list; empty means all.
#[derive(Debug, Clone, Default)]
pub struct HouseholdFilter {
    pub category: Option<PovertyCategory>,
    pub status: Option<PovertyStatus>,
    /// Only households poor because of illness (因病致贫).
    pub illness: bool,
    /// Include households that have left the programme.
    pub include_exited: bool,
    /// Name, pinyin initials, ID number or household number of any member.
    pub query: Option<String>,
}

/// One line of the household list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HouseholdRow {
    pub household: Household,
    pub region_name: String,
    pub members: i64,
    pub in_programme: bool,
}

/// Households, persons and 因病致贫 households in the programme under one region.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RegionCount {
    pub region: Region,
    pub households: i64,
    pub persons: i64,
    pub illness_households: i64,
}

/// The condition and argument that find persons by a search text, or `None` for an empty text.
fn person_match(query: &str, param: usize) -> Option<(String, String)> {
    // LIKE wildcards in the query would match everyone.
    let q = query.trim().replace(['%', '_'], "");
    if q.is_empty() {
        return None;
    }
    Some(if q.chars().all(|c| c.is_ascii_alphabetic()) {
        (format!("p.initials LIKE ${param}"), format!("{}%", q.to_ascii_lowercase()))
    } else if q.len() == 18 && IdNumber::parse(&q).is_ok() {
        (format!("p.id_number = ${param}"), q.to_ascii_uppercase())
    } else if q.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        (format!("(p.household_no = ${param} OR p.id_number LIKE ${param} || '%')"), q.to_ascii_uppercase())
    } else {
        (format!("p.name LIKE ${param}"), format!("%{q}%"))
    })
}

impl Store {
    /// A page of the households inside `region` that pass the filter, and how many pass in all.
    pub async fn list_households(&self, region: RegionCode, f: &HouseholdFilter, limit: i64, offset: i64) -> Result<(Vec<HouseholdRow>, i64)> {
        let mut cond = String::from("h.region_code >= $1 AND h.region_code < $1 || ':'");
        let mut args = vec![within(region)];
        if !f.include_exited {
            cond.push_str(" AND h.in_programme = 1");
        }
        if let Some(c) = f.category {
            args.push(c.code().into());
            cond.push_str(&format!(" AND h.category = ${}", args.len()));
        }
        if let Some(s) = f.status {
            args.push(s.code().into());
            cond.push_str(&format!(" AND h.status = ${}", args.len()));
        }
        if f.illness {
            cond.push_str(" AND h.cause = 'illness'");
        }
        if let Some((m, arg)) = f.query.as_deref().and_then(|q| person_match(q, args.len() + 1)) {
            args.push(arg);
            cond.push_str(&format!(" AND h.household_no IN (SELECT p.household_no FROM persons p WHERE {m})"));
        }
        let count_sql = format!("SELECT COUNT(*) FROM households h WHERE {cond}");
        let mut q = sqlx::query_scalar(&count_sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let total: i64 = q.fetch_one(&self.pool).await?;
        let sql = format!(
            "SELECT {}, COALESCE(r.name, '') AS region_name, \
             (SELECT COUNT(*) FROM persons p WHERE p.household_no = h.household_no AND p.in_programme = 1) AS members \
             FROM households h LEFT JOIN regions r ON r.code = h.region_code WHERE {cond} \
             ORDER BY h.region_code, h.household_no LIMIT {} OFFSET {}",
            HOUSEHOLD_COLUMNS.split(", ").map(|c| format!("h.{c}")).collect::<Vec<_>>().join(", "),
            limit.clamp(1, 1000),
            offset.max(0)
        );
        let mut q = sqlx::query(&sql);
        for a in &args {
            q = q.bind(a.as_str());
        }
        let rows = q
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let h = household_from_row(r)?;
                Ok(HouseholdRow {
                    household: h.household,
                    in_programme: h.in_programme,
                    region_name: r.try_get("region_name")?,
                    members: r.try_get("members")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((rows, total))
    }

    /// The children of `region` with what the programme holds under each.
    pub async fn region_children_counts(&self, region: RegionCode) -> Result<Vec<RegionCount>> {
        let children = self.child_regions(region).await?;
        let Some(first) = children.first() else { return Ok(Vec::new()) };
        let width = first.code.level().digits() as i64;
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(h.region_code, 1, {width}) AS child, COUNT(*) AS households, \
             CAST(SUM(CASE WHEN h.cause = 'illness' THEN 1 ELSE 0 END) AS BIGINT) AS ill, \
             CAST(SUM((SELECT COUNT(*) FROM persons p WHERE p.household_no = h.household_no AND p.in_programme = 1)) AS BIGINT) AS persons \
             FROM households h WHERE h.in_programme = 1 AND h.region_code >= $1 AND h.region_code < $1 || ':' GROUP BY SUBSTR(h.region_code, 1, {width})"
        ))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut counts: HashMap<String, (i64, i64, i64)> = HashMap::new();
        for r in &rows {
            counts.insert(r.try_get("child")?, (r.try_get("households")?, r.try_get("persons")?, r.try_get("ill")?));
        }
        Ok(children
            .into_iter()
            .map(|c| {
                let (households, persons, illness_households) = counts.get(&c.code.prefix()).copied().unwrap_or_default();
                RegionCount { region: c, households, persons, illness_households }
            })
            .collect())
    }

    /// The region and its ancestors that are in the store, from the top down.
    pub async fn region_path(&self, code: RegionCode) -> Result<Vec<Region>> {
        let mut path = Vec::new();
        let mut next = Some(code);
        while let Some(c) = next {
            if let Some(r) = self.region(c).await? {
                path.push(r);
            }
            next = c.parent();
        }
        path.reverse();
        Ok(path)
    }
}

/// What settlement needs to know of a person: their household's region and category, and their
/// entries and exits (date, true for an entry) in date order.
#[derive(Debug, Clone)]
pub struct SettlementContext {
    pub household_no: String,
    pub region: RegionCode,
    pub category: PovertyCategory,
    pub membership: Vec<(Date, bool)>,
}

impl SettlementContext {
    /// Whether the person was in the programme on `date` (the last entry or exit on or before it).
    pub fn in_programme_on(&self, date: Date) -> bool {
        self.membership.iter().rev().find(|(d, _)| *d <= date).is_some_and(|(_, entry)| *entry)
    }
}

impl Store {
    /// The settlement context of many persons at once (for batch settlement).
    pub async fn settlement_contexts(&self, ids: &[i64]) -> Result<HashMap<i64, SettlementContext>> {
        let mut out: HashMap<i64, SettlementContext> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(crate::batch::IN_LIST) {
            let list = crate::batch::placeholders(self.backend, 1, chunk.len());
            let sql = format!(
                "SELECT p.id, p.household_no, h.region_code, h.category FROM persons p JOIN households h ON h.household_no = p.household_no WHERE p.id IN ({list})"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in &q.fetch_all(&self.pool).await? {
                let cat: String = r.try_get("category")?;
                out.insert(
                    r.try_get("id")?,
                    SettlementContext {
                        household_no: r.try_get("household_no")?,
                        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
                        category: PovertyCategory::from_code(&cat).ok_or_else(|| corrupt("category", &cat))?,
                        membership: Vec::new(),
                    },
                );
            }
            let sql = format!(
                "SELECT person_id, kind, effective_date FROM registry_events WHERE kind <> 'change' AND person_id IN ({list}) \
                 ORDER BY person_id, effective_date, id"
            );
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in &q.fetch_all(&self.pool).await? {
                let id: i64 = r.try_get("person_id")?;
                let date = parse_date(&r.try_get::<String, _>("effective_date")?)?;
                if let Some(ctx) = out.get_mut(&id) {
                    ctx.membership.push((date, r.try_get::<String, _>("kind")? == "entry"));
                }
            }
        }
        Ok(out)
    }

    /// Every facility, by code.
    pub async fn all_facilities(&self) -> Result<HashMap<String, Facility>> {
        let rows = sqlx::query("SELECT code, name, level, kind, region_code, designated, poverty_beds FROM facilities").fetch_all(&self.pool).await?;
        rows.iter().map(|r| facility_from_row(r).map(|f| (f.code.clone(), f))).collect()
    }
}
