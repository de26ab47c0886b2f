//! Family-doctor teams, contracts, key-group additions, follow-ups and follow-up rules.

use std::collections::HashMap;

use huimin_domain::{Adherence, Date, FollowUpMode, FollowUpReadings, FollowUpRule, KeyGroup, RegionCode, Service};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::append_audit_in;
use crate::registry::{corrupt, date_text, fk_message, parse_date, within};
use crate::{AuditEntry, Result, Store, StoreError, now};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TeamMember {
    pub id: i64,
    pub name: String,
    /// 全科医生, 护士, 公卫医生, 村医…
    pub duty: String,
    pub phone: String,
    pub facility_code: Option<String>,
    /// The member's login, if they have one (their worklist).
    pub username: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub facility_code: String,
    /// The area the team serves.
    pub region: RegionCode,
    pub members: Vec<TeamMember>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewContract {
    pub person_id: i64,
    pub team_id: i64,
    pub year: i32,
    pub starts_on: Date,
    pub ends_on: Date,
    pub services: Vec<Service>,
    /// The team member who signed.
    pub signed_by: String,
    pub signed_on: Date,
    pub renewed_from: Option<i64>,
}

/// A contract with what the worklist and the lists need of its person and team.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractRow {
    pub id: i64,
    pub contract: NewContract,
    pub person_name: String,
    pub birth_date: Date,
    pub household_no: String,
    pub region: RegionCode,
    pub phone: Option<String>,
    pub team_name: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewFollowUp {
    /// Generated with the form; the same key twice stores one follow-up.
    pub submission_key: String,
    pub person_id: i64,
    pub contract_id: i64,
    pub followed_on: Date,
    pub mode: FollowUpMode,
    pub readings: FollowUpReadings,
    pub adherence: Adherence,
    pub guidance: String,
    pub next_on: Option<Date>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredFollowUp {
    pub id: i64,
    pub follow_up: NewFollowUp,
    /// What was out of range ("血压偏高"…), empty if nothing.
    pub abnormal: Vec<String>,
    pub recorded_by: String,
    pub person_name: String,
    pub household_no: String,
}

/// Signed contracts against persons in the programme, for one child region.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContractRate {
    pub region: RegionCode,
    pub name: String,
    pub persons: i64,
    pub signed: i64,
}

fn services_text(s: &[Service]) -> String {
    s.iter().map(|s| s.code()).collect::<Vec<_>>().join("|")
}

fn contract_from_row(r: &AnyRow) -> Result<NewContract> {
    let services: String = r.try_get("services")?;
    Ok(NewContract {
        person_id: r.try_get("person_id")?,
        team_id: r.try_get("team_id")?,
        year: i32::try_from(r.try_get::<i64, _>("year")?).map_err(|e| corrupt("year", e))?,
        starts_on: parse_date(&r.try_get::<String, _>("starts_on")?)?,
        ends_on: parse_date(&r.try_get::<String, _>("ends_on")?)?,
        services: services.split('|').filter(|s| !s.is_empty()).map(|s| Service::from_code(s).ok_or_else(|| corrupt("service", s))).collect::<Result<_>>()?,
        signed_by: r.try_get("signed_by")?,
        signed_on: parse_date(&r.try_get::<String, _>("signed_on")?)?,
        renewed_from: r.try_get("renewed_from")?,
    })
}

fn opt_u16(r: &AnyRow, col: &str) -> Result<Option<u16>> {
    r.try_get::<Option<i64>, _>(col)?.map(|v| u16::try_from(v).map_err(|e| corrupt(col, e))).transpose()
}

fn follow_up_from_row(r: &AnyRow) -> Result<StoredFollowUp> {
    let mode: String = r.try_get("mode")?;
    let adherence: String = r.try_get("adherence")?;
    let abnormal: String = r.try_get("abnormal")?;
    Ok(StoredFollowUp {
        id: r.try_get("id")?,
        follow_up: NewFollowUp {
            submission_key: r.try_get("submission_key")?,
            person_id: r.try_get("person_id")?,
            contract_id: r.try_get("contract_id")?,
            followed_on: parse_date(&r.try_get::<String, _>("followed_on")?)?,
            mode: FollowUpMode::from_code(&mode).ok_or_else(|| corrupt("mode", &mode))?,
            readings: FollowUpReadings {
                systolic: opt_u16(r, "systolic")?,
                diastolic: opt_u16(r, "diastolic")?,
                glucose_tenths: opt_u16(r, "glucose_tenths")?,
                heart_rate: opt_u16(r, "heart_rate")?,
                weight_tenths: opt_u16(r, "weight_tenths")?,
            },
            adherence: Adherence::from_code(&adherence).ok_or_else(|| corrupt("adherence", &adherence))?,
            guidance: r.try_get("guidance")?,
            next_on: r.try_get::<Option<String>, _>("next_on")?.as_deref().map(parse_date).transpose()?,
        },
        abnormal: abnormal.split('|').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        recorded_by: r.try_get("recorded_by")?,
        person_name: r.try_get("person_name")?,
        household_no: r.try_get("household_no")?,
    })
}

const CONTRACT_SELECT: &str = "SELECT c.*, p.name AS person_name, p.birth_date, p.household_no, p.phone, h.region_code, \
     t.name AS team_name FROM contracts c JOIN persons p ON p.id = c.person_id \
     JOIN households h ON h.household_no = p.household_no JOIN teams t ON t.id = c.team_id";

fn contract_row(r: &AnyRow) -> Result<ContractRow> {
    Ok(ContractRow {
        id: r.try_get("id")?,
        contract: contract_from_row(r)?,
        person_name: r.try_get("person_name")?,
        birth_date: parse_date(&r.try_get::<String, _>("birth_date")?)?,
        household_no: r.try_get("household_no")?,
        region: RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?,
        phone: r.try_get("phone")?,
        team_name: r.try_get("team_name")?,
    })
}

const FOLLOW_UP_SELECT: &str = "SELECT f.*, p.name AS person_name, p.household_no FROM follow_ups f JOIN persons p ON p.id = f.person_id";

async fn insert_follow_up(tx: &mut crate::tx::WriteTx, f: &NewFollowUp, abnormal: &[&str], by: &str) -> std::result::Result<i64, sqlx::Error> {
    let v = |x: Option<u16>| x.map(i64::from);
    sqlx::query_scalar(&format!(
        "INSERT INTO follow_ups (submission_key, person_id, contract_id, followed_on, mode, systolic, diastolic, glucose_tenths, \
         heart_rate, weight_tenths, adherence, guidance, next_on, abnormal, recorded_by, recorded_at, county_code) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, {}) RETURNING id",
        crate::county::of_person_param(2)
    ))
    .bind(&f.submission_key)
    .bind(f.person_id)
    .bind(f.contract_id)
    .bind(date_text(f.followed_on))
    .bind(f.mode.code())
    .bind(v(f.readings.systolic))
    .bind(v(f.readings.diastolic))
    .bind(v(f.readings.glucose_tenths))
    .bind(v(f.readings.heart_rate))
    .bind(v(f.readings.weight_tenths))
    .bind(f.adherence.code())
    .bind(&f.guidance)
    .bind(f.next_on.map(date_text))
    .bind(abnormal.join("|"))
    .bind(by)
    .bind(now())
    .fetch_one(&mut **tx)
    .await
}

impl Store {
    pub async fn create_team(&self, name: &str, facility_code: &str, region: RegionCode, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar("INSERT INTO teams (name, facility_code, region_code, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(name)
            .bind(facility_code)
            .bind(region.to_string())
            .bind(&audit.username)
            .bind(now())
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| fk_message(e, &format!("医疗机构 {facility_code} 或区划 {region} 不存在")))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    pub async fn add_team_member(&self, team_id: i64, m: &TeamMember, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO team_members (team_id, name, duty, phone, facility_code, username) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(team_id)
        .bind(&m.name)
        .bind(&m.duty)
        .bind(&m.phone)
        .bind(m.facility_code.as_deref())
        .bind(m.username.as_deref())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("团队 {team_id} 或医疗机构 {} 不存在", m.facility_code.as_deref().unwrap_or(""))))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn team_members(&self, team_id: i64) -> Result<Vec<TeamMember>> {
        let rows = sqlx::query("SELECT * FROM team_members WHERE team_id = $1 ORDER BY id").bind(team_id).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(TeamMember {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    duty: r.try_get("duty")?,
                    phone: r.try_get("phone")?,
                    facility_code: r.try_get("facility_code")?,
                    username: r.try_get("username")?,
                })
            })
            .collect()
    }

    /// Teams that serve part of `region`: their area lies inside it or contains it.
    pub async fn teams(&self, region: RegionCode) -> Result<Vec<Team>> {
        let rows = sqlx::query("SELECT * FROM teams ORDER BY region_code, id").fetch_all(&self.pool).await?;
        let mut out = Vec::new();
        for r in &rows {
            let code = RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?;
            if region.contains(code) || code.contains(region) {
                let id: i64 = r.try_get("id")?;
                out.push(Team { id, name: r.try_get("name")?, facility_code: r.try_get("facility_code")?, region: code, members: self.team_members(id).await? });
            }
        }
        Ok(out)
    }

    pub async fn team(&self, id: i64) -> Result<Option<Team>> {
        let Some(r) = sqlx::query("SELECT * FROM teams WHERE id = $1").bind(id).fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let region = RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?;
        Ok(Some(Team { id, name: r.try_get("name")?, facility_code: r.try_get("facility_code")?, region, members: self.team_members(id).await? }))
    }

    /// The teams a login is a member of.
    pub async fn teams_of(&self, username: &str) -> Result<Vec<i64>> {
        Ok(sqlx::query_scalar("SELECT DISTINCT team_id FROM team_members WHERE username = $1").bind(username).fetch_all(&self.pool).await?)
    }

    /// Signs contracts, all or none: a person who already has a contract for the year is refused.
    pub async fn sign_contracts(&self, contracts: &[NewContract], audit: &AuditEntry) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let at = now();
        for c in contracts {
            if c.ends_on < c.starts_on {
                return Err(StoreError::Refused(format!("签约结束日期 {} 早于开始日期 {}", c.ends_on, c.starts_on)));
            }
            let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM contracts WHERE person_id = $1 AND year = $2")
                .bind(c.person_id)
                .bind(i64::from(c.year))
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                let name: Option<String> = sqlx::query_scalar("SELECT name FROM persons WHERE id = $1").bind(c.person_id).fetch_optional(&mut *tx).await?;
                return Err(StoreError::Refused(format!("{} 已有 {} 年度的签约", name.unwrap_or_default(), c.year)));
            }
            sqlx::query(&format!(
                "INSERT INTO contracts (person_id, team_id, year, starts_on, ends_on, services, signed_by, signed_on, renewed_from, recorded_by, recorded_at, county_code) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {})",
                crate::county::of_person_param(1)
            ))
            .bind(c.person_id)
            .bind(c.team_id)
            .bind(i64::from(c.year))
            .bind(date_text(c.starts_on))
            .bind(date_text(c.ends_on))
            .bind(services_text(&c.services))
            .bind(&c.signed_by)
            .bind(date_text(c.signed_on))
            .bind(c.renewed_from)
            .bind(&audit.username)
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(|e| fk_message(e, &format!("人员 {} 或团队 {} 不存在", c.person_id, c.team_id)))?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(contracts.len())
    }

    /// Contracts of `year` of persons in the programme inside `region`.
    pub async fn contracts(&self, region: RegionCode, year: i32) -> Result<Vec<ContractRow>> {
        let rows = sqlx::query(&format!(
            "{CONTRACT_SELECT} WHERE c.year = $1 AND p.in_programme = 1 AND h.region_code >= $2 AND h.region_code < $2 || ':' ORDER BY h.region_code, p.household_no, p.id"
        ))
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(contract_row).collect()
    }

    pub async fn contract(&self, id: i64) -> Result<Option<ContractRow>> {
        let row = sqlx::query(&format!("{CONTRACT_SELECT} WHERE c.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(contract_row).transpose()
    }

    /// A person's contract for a year, if any: (id, contract).
    pub async fn contract_of(&self, person_id: i64, year: i32) -> Result<Option<(i64, NewContract)>> {
        let row = sqlx::query("SELECT * FROM contracts WHERE person_id = $1 AND year = $2").bind(person_id).bind(i64::from(year)).fetch_optional(&self.pool).await?;
        row.map(|r| Ok((r.try_get("id")?, contract_from_row(&r)?))).transpose()
    }

    /// The 签约率 of `year` in each child region of `region` (a village: itself).
    pub async fn contract_rates(&self, region: RegionCode, year: i32) -> Result<Vec<ContractRate>> {
        let children = self.child_regions(region).await?;
        let width = children.first().map_or(12, |c| c.code.prefix().len());
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(h.region_code, 1, {width}) AS child, COUNT(*) AS persons, \
             CAST(SUM(CASE WHEN c.id IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS signed \
             FROM persons p JOIN households h ON h.household_no = p.household_no \
             LEFT JOIN contracts c ON c.person_id = p.id AND c.year = $1 \
             WHERE p.in_programme = 1 AND h.region_code >= $2 AND h.region_code < $2 || ':' GROUP BY SUBSTR(h.region_code, 1, {width})"
        ))
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut by: HashMap<String, (i64, i64)> = HashMap::new();
        for r in &rows {
            by.insert(r.try_get("child")?, (r.try_get("persons")?, r.try_get::<Option<i64>, _>("signed")?.unwrap_or(0)));
        }
        let regions = if children.is_empty() { self.region(region).await?.into_iter().collect() } else { children };
        Ok(regions
            .into_iter()
            .map(|c| {
                let (persons, signed) = by.get(&c.code.prefix()).copied().unwrap_or_default();
                ContractRate { region: c.code, name: c.name, persons, signed }
            })
            .collect())
    }

    /// Persons in the programme inside `region` without a contract for `year`: (id, name, household).
    pub async fn unsigned_persons(&self, region: RegionCode, year: i32, limit: i64) -> Result<Vec<(i64, String, String)>> {
        let rows = sqlx::query(
            "SELECT p.id, p.name, p.household_no FROM persons p JOIN households h ON h.household_no = p.household_no \
             WHERE p.in_programme = 1 AND h.region_code >= $1 AND h.region_code < $1 || ':' \
             AND NOT EXISTS (SELECT 1 FROM contracts c WHERE c.person_id = p.id AND c.year = $2) \
             ORDER BY h.region_code, p.household_no, p.id LIMIT $3",
        )
        .bind(within(region))
        .bind(i64::from(year))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("id")?, r.try_get("name")?, r.try_get("household_no")?))).collect()
    }

    pub async fn add_key_group(&self, person_id: i64, group: KeyGroup, reason: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO key_group_additions (person_id, key_group, reason, added_by, added_at, county_code) VALUES ($1, $2, $3, $4, $5, {}) \
             {} DO UPDATE SET reason = excluded.reason, added_by = excluded.added_by, added_at = excluded.added_at",
            crate::county::of_person_param(1),
            crate::county::on_conflict(self.backend, "person_id, key_group")
        ))
        .bind(person_id)
        .bind(group.code())
        .bind(reason)
        .bind(&audit.username)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("人员 {person_id} 不存在")))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Key groups added by hand for persons inside `region`.
    pub async fn key_group_additions(&self, region: RegionCode) -> Result<HashMap<i64, Vec<KeyGroup>>> {
        let rows = sqlx::query(
            "SELECT k.person_id, k.key_group FROM key_group_additions k JOIN persons p ON p.id = k.person_id \
             JOIN households h ON h.household_no = p.household_no WHERE h.region_code >= $1 AND h.region_code < $1 || ':'",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<i64, Vec<KeyGroup>> = HashMap::new();
        for r in &rows {
            let g: String = r.try_get("key_group")?;
            out.entry(r.try_get("person_id")?).or_default().push(KeyGroup::from_code(&g).ok_or_else(|| corrupt("key group", &g))?);
        }
        Ok(out)
    }

    /// Disease codes of persons inside `region` (for key groups by diagnosis).
    pub async fn diagnoses(&self, region: RegionCode) -> Result<HashMap<i64, Vec<String>>> {
        let rows = sqlx::query(
            "SELECT c.person_id, c.disease_code FROM disease_cards c JOIN persons p ON p.id = c.person_id \
             JOIN households h ON h.household_no = p.household_no WHERE h.region_code >= $1 AND h.region_code < $1 || ':'",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        for r in &rows {
            out.entry(r.try_get("person_id")?).or_default().push(r.try_get("disease_code")?);
        }
        Ok(out)
    }

    /// Records a follow-up once per submission key: `(id, false)` if the key was already stored.
    pub async fn record_follow_up(&self, f: &NewFollowUp, abnormal: &[&str], audit: &AuditEntry) -> Result<(i64, bool)> {
        let mut tx = self.begin_write().await?;
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM follow_ups WHERE submission_key = $1").bind(&f.submission_key).fetch_optional(&mut *tx).await?;
        if let Some(id) = existing {
            return Ok((id, false));
        }
        let inserted = insert_follow_up(&mut tx, f, abnormal, &audit.username).await;
        let id = match inserted {
            Ok(id) => id,
            // The same submission, arriving at the same moment on another connection (PostgreSQL).
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                drop(tx);
                let id = sqlx::query_scalar("SELECT id FROM follow_ups WHERE submission_key = $1").bind(&f.submission_key).fetch_one(&self.pool).await?;
                return Ok((id, false));
            }
            Err(e) => return Err(fk_message(e, "签约记录不存在")),
        };
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok((id, true))
    }

    /// Stores follow-ups recorded elsewhere (a batch from another system, the demo), all or none;
    /// a submission key already stored is skipped. Returns how many were stored.
    pub async fn import_follow_ups(&self, items: &[(NewFollowUp, Vec<&str>)], audit: &AuditEntry) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let mut stored = 0;
        for (f, abnormal) in items {
            let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM follow_ups WHERE submission_key = $1").bind(&f.submission_key).fetch_optional(&mut *tx).await?;
            if existing.is_none() {
                insert_follow_up(&mut tx, f, abnormal, &audit.username).await.map_err(|e| fk_message(e, "签约记录不存在"))?;
                stored += 1;
            }
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(stored)
    }

    /// Follow-up dates of the given contracts.
    pub async fn follow_up_dates(&self, region: RegionCode, year: i32) -> Result<HashMap<i64, Vec<Date>>> {
        let rows = sqlx::query(
            "SELECT f.contract_id, f.followed_on FROM follow_ups f JOIN contracts c ON c.id = f.contract_id \
             JOIN persons p ON p.id = c.person_id JOIN households h ON h.household_no = p.household_no \
             WHERE c.year = $1 AND h.region_code >= $2 AND h.region_code < $2 || ':'",
        )
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<i64, Vec<Date>> = HashMap::new();
        for r in &rows {
            out.entry(r.try_get("contract_id")?).or_default().push(parse_date(&r.try_get::<String, _>("followed_on")?)?);
        }
        Ok(out)
    }

    /// The follow-ups of `year`'s contracts of persons inside `region`, by person and date.
    pub async fn follow_ups_in(&self, region: RegionCode, year: i32) -> Result<Vec<StoredFollowUp>> {
        let rows = sqlx::query(&format!(
            "{FOLLOW_UP_SELECT} JOIN contracts c ON c.id = f.contract_id JOIN households h ON h.household_no = p.household_no \
             WHERE c.year = $1 AND h.region_code >= $2 AND h.region_code < $2 || ':' ORDER BY p.household_no, p.id, f.followed_on, f.submission_key"
        ))
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(follow_up_from_row).collect()
    }

    /// A person's follow-ups, newest first.
    pub async fn follow_ups_of(&self, person_id: i64) -> Result<Vec<StoredFollowUp>> {
        let rows = sqlx::query(&format!("{FOLLOW_UP_SELECT} WHERE f.person_id = $1 ORDER BY f.followed_on DESC, f.id DESC")).bind(person_id).fetch_all(&self.pool).await?;
        rows.iter().map(follow_up_from_row).collect()
    }

    pub async fn follow_up(&self, id: i64) -> Result<Option<StoredFollowUp>> {
        let row = sqlx::query(&format!("{FOLLOW_UP_SELECT} WHERE f.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(follow_up_from_row).transpose()
    }

    /// Follow-ups with abnormal readings inside `region` since `from`, newest first.
    pub async fn abnormal_follow_ups(&self, region: RegionCode, from: Date) -> Result<Vec<StoredFollowUp>> {
        let rows = sqlx::query(&format!(
            "{FOLLOW_UP_SELECT} JOIN households h ON h.household_no = p.household_no \
             WHERE f.abnormal <> '' AND f.followed_on >= $1 AND h.region_code >= $2 AND h.region_code < $2 || ':' ORDER BY f.followed_on DESC, f.id DESC LIMIT 1000"
        ))
        .bind(date_text(from))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(follow_up_from_row).collect()
    }

    /// Every region's follow-up rule: (region, rule).
    pub async fn follow_up_rules(&self) -> Result<Vec<(RegionCode, FollowUpRule)>> {
        let rows = sqlx::query("SELECT * FROM follow_up_rules").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let region = RegionCode::parse(&r.try_get::<String, _>("region_code")?).map_err(|e| corrupt("region", e))?;
                let n = |c: &str| -> Result<u8> { u8::try_from(r.try_get::<i64, _>(c)?).map_err(|e| corrupt(c, e)) };
                Ok((region, FollowUpRule::new(n("key_per_year")?, n("other_per_year")?).map_err(|e| corrupt("rule", e))?))
            })
            .collect()
    }

    pub async fn set_follow_up_rule(&self, region: RegionCode, rule: FollowUpRule, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO follow_up_rules (region_code, key_per_year, other_per_year, set_by, set_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (region_code) DO UPDATE SET key_per_year = excluded.key_per_year, other_per_year = excluded.other_per_year, \
             set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(region.to_string())
        .bind(i64::from(rule.key_per_year))
        .bind(i64::from(rule.other_per_year))
        .bind(&audit.username)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("区划 {region} 不存在")))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}
