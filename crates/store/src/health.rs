//! Health files (examinations, one card per disease), screening campaigns, batch overrides and
//! the treatment ledger. Every write carries its audit entry in the same transaction.

use std::collections::HashMap;

use huimin_domain::{CareBatch, Date, ExamReadings, Prognosis, RegionCode, TreatmentStatus};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::access::append_audit_in;
use crate::batch::{Val, insert_rows};
use crate::tx::WriteTx;
use crate::registry::{corrupt, date_text, fk_message, parse_date, within};
use crate::{AuditEntry, Result, Store, StoreError, now};

/// Cards written with one set of statements.
const CARD_CHUNK: usize = 5_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredExam {
    pub id: i64,
    pub person_id: i64,
    pub exam_date: Date,
    pub readings: ExamReadings,
    pub findings: String,
    /// Where the examination took place.
    pub examined_at: String,
    pub recorded_by: String,
}

/// A disease card (一病一卡) to record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DiseaseCard {
    pub person_id: i64,
    pub disease_code: String,
    pub disease_name: String,
    pub diagnosed_on: Option<Date>,
    /// Where it was diagnosed.
    pub diagnosed_at: String,
    pub prognosis: Prognosis,
    pub plan: String,
    pub confidential: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredCard {
    pub id: i64,
    pub card: DiseaseCard,
    pub recorded_by: String,
    pub recorded_at: String,
}

/// What a disease card said before it was updated, and who updated it when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CardRevision {
    pub disease_name: String,
    pub diagnosed_on: Option<Date>,
    pub diagnosed_at: String,
    pub prognosis: Prognosis,
    pub plan: String,
    pub recorded_by: String,
    pub recorded_at: String,
    pub replaced_by: String,
    pub replaced_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Campaign {
    pub id: i64,
    pub name: String,
    pub region: RegionCode,
    pub starts_on: Date,
    pub ends_on: Date,
    pub created_by: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Screening {
    pub household_no: String,
    pub screened_on: Date,
    pub screened_by: String,
    pub result: String,
    pub illness_poor: bool,
}

/// A household's screening as stored: `version` changes with every write (a device that worked
/// offline sends the version it saw).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredScreening {
    pub screening: Screening,
    pub version: String,
    #[serde(skip)]
    pub submission_key: Option<String>,
}

/// What became of one screening sent.
#[derive(Debug, Clone)]
pub enum ScreeningWrite {
    Stored { version: String },
    /// The same submission was stored before.
    Before { version: String },
    /// Another result was stored since the version the sender saw: nothing written.
    Stale(StoredScreening),
}

/// A campaign's progress in one region (a child of the region asked for).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScreeningProgress {
    pub region: RegionCode,
    pub name: String,
    /// Households in the programme: the households to screen.
    pub to_screen: i64,
    pub screened: i64,
    /// Screened households found poor because of illness.
    pub illness_poor: i64,
}

/// A person with disease cards (or high costs), for the three batches.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SickPerson {
    pub person_id: i64,
    pub name: String,
    pub household_no: String,
    pub region: RegionCode,
    /// (code, name, confidential) of each card.
    pub diseases: Vec<(String, String, bool)>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchOverride {
    pub batch: Option<CareBatch>,
    pub reason: String,
    pub decided_by: String,
    pub decided_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Treatment {
    pub id: i64,
    pub person_id: i64,
    pub person_name: String,
    pub household_no: String,
    pub region: RegionCode,
    pub disease_code: String,
    pub disease_name: String,
    pub confidential: bool,
    pub facility_code: Option<String>,
    pub facility_name: Option<String>,
    pub plan: String,
    pub status: TreatmentStatus,
    pub reason: String,
    pub identified_on: Date,
    pub updated_on: Date,
    pub updated_by: String,
}

/// A change to a ledger line.
#[derive(Debug, Clone)]
pub struct TreatmentUpdate {
    pub status: TreatmentStatus,
    pub facility_code: Option<String>,
    pub plan: String,
    pub reason: String,
    pub on: Date,
}

fn opt_u16(r: &AnyRow, col: &str) -> Result<Option<u16>> {
    r.try_get::<Option<i64>, _>(col)?.map(|v| u16::try_from(v).map_err(|e| corrupt(col, e))).transpose()
}

pub(crate) fn region_col(r: &AnyRow, col: &str) -> Result<RegionCode> {
    RegionCode::parse(&r.try_get::<String, _>(col)?).map_err(|e| corrupt(col, e))
}

fn exam_from_row(r: &AnyRow) -> Result<StoredExam> {
    Ok(StoredExam {
        id: r.try_get("id")?,
        person_id: r.try_get("person_id")?,
        exam_date: parse_date(&r.try_get::<String, _>("exam_date")?)?,
        readings: ExamReadings {
            systolic: opt_u16(r, "systolic")?,
            diastolic: opt_u16(r, "diastolic")?,
            glucose_tenths: opt_u16(r, "glucose_tenths")?,
            height_cm: opt_u16(r, "height_cm")?,
            weight_tenths: opt_u16(r, "weight_tenths")?,
        },
        findings: r.try_get("findings")?,
        examined_at: r.try_get("examined_at")?,
        recorded_by: r.try_get("recorded_by")?,
    })
}

fn card_from_row(r: &AnyRow) -> Result<StoredCard> {
    let prognosis: String = r.try_get("prognosis")?;
    let code: String = r.try_get("disease_code")?;
    // Cards stored before the law's ranges were applied are confidential by them too.
    let confidential = r.try_get::<i64, _>("confidential")? != 0 || huimin_domain::legally_confidential(&code);
    Ok(StoredCard {
        id: r.try_get("id")?,
        card: DiseaseCard {
            person_id: r.try_get("person_id")?,
            disease_code: code,
            disease_name: r.try_get("disease_name")?,
            diagnosed_on: r.try_get::<Option<String>, _>("diagnosed_on")?.as_deref().map(parse_date).transpose()?,
            diagnosed_at: r.try_get("diagnosed_at")?,
            prognosis: Prognosis::from_code(&prognosis).ok_or_else(|| corrupt("prognosis", &prognosis))?,
            plan: r.try_get("plan")?,
            confidential,
        },
        recorded_by: r.try_get("recorded_by")?,
        recorded_at: r.try_get("recorded_at")?,
    })
}

fn campaign_from_row(r: &AnyRow) -> Result<Campaign> {
    Ok(Campaign {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        region: region_col(r, "region_code")?,
        starts_on: parse_date(&r.try_get::<String, _>("starts_on")?)?,
        ends_on: parse_date(&r.try_get::<String, _>("ends_on")?)?,
        created_by: r.try_get("created_by")?,
    })
}

fn treatment_from_row(r: &AnyRow) -> Result<Treatment> {
    let status: String = r.try_get("status")?;
    Ok(Treatment {
        id: r.try_get("id")?,
        person_id: r.try_get("person_id")?,
        person_name: r.try_get("person_name")?,
        household_no: r.try_get("household_no")?,
        region: region_col(r, "region_code")?,
        disease_code: r.try_get("disease_code")?,
        disease_name: r.try_get::<Option<String>, _>("disease_name")?.unwrap_or_default(),
        confidential: r.try_get::<Option<i64>, _>("confidential")?.unwrap_or(0) != 0 || huimin_domain::legally_confidential(&r.try_get::<String, _>("disease_code")?),
        facility_code: r.try_get("facility_code")?,
        facility_name: r.try_get("facility_name")?,
        plan: r.try_get("plan")?,
        status: TreatmentStatus::from_code(&status).ok_or_else(|| corrupt("treatment status", &status))?,
        reason: r.try_get("reason")?,
        identified_on: parse_date(&r.try_get::<String, _>("identified_on")?)?,
        updated_on: parse_date(&r.try_get::<String, _>("updated_on")?)?,
        updated_by: r.try_get("updated_by")?,
    })
}

const TREATMENT_SELECT: &str = "SELECT t.id, t.person_id, p.name AS person_name, p.household_no, h.region_code, t.disease_code, \
     c.disease_name, c.confidential, t.facility_code, f.name AS facility_name, t.plan, t.status, t.reason, t.identified_on, \
     t.updated_on, t.updated_by FROM treatments t JOIN persons p ON p.id = t.person_id \
     JOIN households h ON h.household_no = p.household_no \
     LEFT JOIN disease_cards c ON c.person_id = t.person_id AND c.disease_code = t.disease_code \
     LEFT JOIN facilities f ON f.code = t.facility_code";

impl Store {
    /// The catalogue files loaded so far, oldest first: (file name, text, the region it applies
    /// in; `None`: everywhere).
    pub async fn catalog_files(&self) -> Result<Vec<(String, String, Option<RegionCode>)>> {
        let rows = sqlx::query("SELECT file_name, body, region_code FROM catalog_files ORDER BY id").fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                let region = r.try_get::<Option<String>, _>("region_code")?.map(|c| RegionCode::parse(&c).map_err(|e| corrupt("catalog_files.region_code", e))).transpose()?;
                Ok((r.try_get("file_name")?, r.try_get("body")?, region))
            })
            .collect()
    }

    pub async fn add_catalog_file(&self, file_name: &str, body: &str, region: RegionCode, loaded_by: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO catalog_files (file_name, body, region_code, loaded_by, loaded_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(file_name)
            .bind(body)
            .bind(region.to_string())
            .bind(loaded_by)
            .bind(now())
            .execute(&mut *tx)
            .await?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn record_exam(&self, person_id: i64, date: Date, readings: &ExamReadings, findings: &str, examined_at: &str, by: &str, audit: &AuditEntry) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let v = |x: Option<u16>| x.map(i64::from);
        let id: i64 = sqlx::query_scalar(&format!(
            "INSERT INTO exams (person_id, exam_date, systolic, diastolic, glucose_tenths, height_cm, weight_tenths, findings, \
             examined_at, recorded_by, recorded_at, county_code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, {}) RETURNING id",
            crate::county::of_person_param(1)
        ))
        .bind(person_id)
        .bind(date_text(date))
        .bind(v(readings.systolic))
        .bind(v(readings.diastolic))
        .bind(v(readings.glucose_tenths))
        .bind(v(readings.height_cm))
        .bind(v(readings.weight_tenths))
        .bind(findings)
        .bind(examined_at)
        .bind(by)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("人员 {person_id} 不存在")))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A person's examinations, newest first.
    pub async fn exams(&self, person_ids: &[i64]) -> Result<Vec<StoredExam>> {
        let mut out = Vec::new();
        for id in person_ids {
            let rows = sqlx::query("SELECT * FROM exams WHERE person_id = $1 ORDER BY exam_date DESC, id DESC").bind(id).fetch_all(&self.pool).await?;
            for r in &rows {
                out.push(exam_from_row(r)?);
            }
        }
        Ok(out)
    }

    /// Records disease cards. A card for a code the person has already is an update: the values
    /// it replaces are kept as a revision (`card_revisions`); the same values again change nothing.
    /// With `identify_for_treatment`, the patient also enters the treatment ledger (once) as
    /// identified on `today`.
    pub async fn save_disease_cards(&self, cards: &[(DiseaseCard, bool)], by: &str, today: Date, audit: &AuditEntry) -> Result<usize> {
        let mut tx = self.begin_write().await?;
        let at = now();
        // Chunks in which each (person, disease) appears once: a later card of the same key
        // starts the next chunk and replaces the earlier one, as it would one by one.
        let mut rest = cards;
        while !rest.is_empty() {
            let mut keys = std::collections::HashSet::new();
            let n = rest.iter().take(CARD_CHUNK).take_while(|(c, _)| keys.insert((c.person_id, c.disease_code.as_str()))).count();
            let (chunk, later) = rest.split_at(n);
            self.save_card_chunk(&mut tx, chunk, by, &at, today).await?;
            rest = later;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.analyze(cards.len(), &["disease_cards", "disease_card_revisions", "treatments"]).await?;
        Ok(cards.len())
    }

    /// A chunk of cards with a few statements: the persons' stored cards read at once, then the
    /// revisions, the cards and the treatment ledger's entries written as multi-row statements.
    async fn save_card_chunk(&self, tx: &mut WriteTx, cards: &[(DiseaseCard, bool)], by: &str, at: &str, today: Date) -> Result<()> {
        let mut persons: Vec<i64> = cards.iter().map(|(c, _)| c.person_id).collect();
        persons.sort_unstable();
        persons.dedup();
        let mut before: HashMap<(i64, String), StoredCard> = HashMap::new();
        for part in persons.chunks(crate::batch::IN_LIST) {
            let sql = format!("SELECT * FROM disease_cards WHERE person_id IN ({})", crate::batch::placeholders(self.backend, 1, part.len()));
            let mut q = sqlx::query(&sql);
            for p in part {
                q = q.bind(*p);
            }
            for r in q.fetch_all(&mut **tx).await? {
                let card = card_from_row(&r)?;
                before.insert((card.card.person_id, card.card.disease_code.clone()), card);
            }
        }
        // A card of a person not in the registry is refused with the person named (before any
        // write: a failed statement would end a PostgreSQL transaction).
        let counties = crate::county::of_persons(tx, self.backend, persons.iter().copied()).await?;
        if let Some(p) = persons.iter().find(|p| !counties.contains_key(p)) {
            return Err(StoreError::Conflict(format!("人员 {p} 不存在")));
        }
        let county = |person: i64| Val::from(counties.get(&person).cloned().unwrap_or_default());
        let (mut revisions, mut upserts, mut identified) = (Vec::new(), Vec::new(), Vec::new());
        for (c, identify) in cards {
            let b = before.get(&(c.person_id, c.disease_code.clone()));
            let unchanged = b.is_some_and(|b| {
                let b = &b.card;
                (&b.disease_name, b.diagnosed_on, &b.diagnosed_at, b.prognosis, &b.plan) == (&c.disease_name, c.diagnosed_on, &c.diagnosed_at, c.prognosis, &c.plan)
            });
            if let Some(b) = b.filter(|_| !unchanged) {
                revisions.push(vec![
                    county(c.person_id),
                    Val::from(b.id),
                    b.card.disease_name.as_str().into(),
                    b.card.diagnosed_on.map(date_text).into(),
                    b.card.diagnosed_at.as_str().into(),
                    b.card.prognosis.code().into(),
                    b.card.plan.as_str().into(),
                    b.recorded_by.as_str().into(),
                    b.recorded_at.as_str().into(),
                    by.into(),
                    at.into(),
                ]);
            }
            if !unchanged {
                upserts.push(vec![
                    county(c.person_id),
                    Val::from(c.person_id),
                    c.disease_code.as_str().into(),
                    c.disease_name.as_str().into(),
                    c.diagnosed_on.map(date_text).into(),
                    c.diagnosed_at.as_str().into(),
                    c.prognosis.code().into(),
                    c.plan.as_str().into(),
                    i64::from(c.confidential).into(),
                    by.into(),
                    at.into(),
                ]);
            }
            if *identify {
                let on = date_text(today);
                identified.push(vec![county(c.person_id), Val::from(c.person_id), c.disease_code.as_str().into(), "".into(), "identified".into(), "".into(), on.clone().into(), on.into(), by.into()]);
            }
        }
        let backend = self.backend;
        insert_rows(
            tx,
            backend,
            "disease_card_revisions",
            &["county_code", "card_id", "disease_name", "diagnosed_on", "diagnosed_at", "prognosis", "plan", "recorded_by", "recorded_at", "replaced_by", "replaced_at"],
            "",
            revisions,
        )
        .await?;
        insert_rows(
            tx,
            backend,
            "disease_cards",
            &["county_code", "person_id", "disease_code", "disease_name", "diagnosed_on", "diagnosed_at", "prognosis", "plan", "confidential", "recorded_by", "recorded_at"],
            &(crate::county::on_conflict(backend, "person_id, disease_code")
                + " DO UPDATE SET disease_name = excluded.disease_name, \
             diagnosed_on = excluded.diagnosed_on, diagnosed_at = excluded.diagnosed_at, prognosis = excluded.prognosis, \
             plan = excluded.plan, confidential = excluded.confidential, recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at"),
            upserts,
        )
        .await
        .map_err(|e| fk_message(e, "人员不存在"))?;
        insert_rows(
            tx,
            backend,
            "treatments",
            &["county_code", "person_id", "disease_code", "plan", "status", "reason", "identified_on", "updated_on", "updated_by"],
            &(crate::county::on_conflict(backend, "person_id, disease_code") + " DO NOTHING"),
            identified,
        )
        .await?;
        Ok(())
    }

    /// Whose disease card `card_id` is.
    pub async fn card_person(&self, card_id: i64) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT person_id FROM disease_cards WHERE id = $1").bind(card_id).fetch_optional(&self.pool).await?)
    }

    /// The earlier values of the given cards, newest first.
    pub async fn card_revisions(&self, card_ids: &[i64]) -> Result<HashMap<i64, Vec<CardRevision>>> {
        let mut out: HashMap<i64, Vec<CardRevision>> = HashMap::new();
        for chunk in card_ids.chunks(5000) {
            let sql = format!("SELECT * FROM disease_card_revisions WHERE card_id IN ({}) ORDER BY id DESC", crate::batch::placeholders(self.backend, 1, chunk.len()));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in &q.fetch_all(&self.pool).await? {
                let prognosis: String = r.try_get("prognosis")?;
                out.entry(r.try_get("card_id")?).or_default().push(CardRevision {
                    disease_name: r.try_get("disease_name")?,
                    diagnosed_on: r.try_get::<Option<String>, _>("diagnosed_on")?.as_deref().map(parse_date).transpose()?,
                    diagnosed_at: r.try_get("diagnosed_at")?,
                    prognosis: Prognosis::from_code(&prognosis).ok_or_else(|| corrupt("prognosis", &prognosis))?,
                    plan: r.try_get("plan")?,
                    recorded_by: r.try_get("recorded_by")?,
                    recorded_at: r.try_get("recorded_at")?,
                    replaced_by: r.try_get("replaced_by")?,
                    replaced_at: r.try_get("replaced_at")?,
                });
            }
        }
        Ok(out)
    }

    /// The cards of the given persons, in the order of `person_ids`, then by code. One query
    /// per 5,000 persons (an export reads a whole county's).
    pub async fn disease_cards(&self, person_ids: &[i64]) -> Result<Vec<StoredCard>> {
        let mut out = Vec::new();
        for chunk in person_ids.chunks(5000) {
            let sql = format!("SELECT * FROM disease_cards WHERE person_id IN ({})", crate::batch::placeholders(self.backend, 1, chunk.len()));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in &q.fetch_all(&self.pool).await? {
                out.push(card_from_row(r)?);
            }
        }
        let position: HashMap<i64, usize> = person_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        out.sort_by(|a, b| (position.get(&a.card.person_id), &a.card.disease_code).cmp(&(position.get(&b.card.person_id), &b.card.disease_code)));
        Ok(out)
    }

    pub async fn create_campaign(&self, name: &str, region: RegionCode, starts_on: Date, ends_on: Date, by: &str, audit: &AuditEntry) -> Result<i64> {
        if ends_on < starts_on {
            return Err(StoreError::Refused(format!("结束日期 {ends_on} 早于开始日期 {starts_on}")));
        }
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO screening_campaigns (name, region_code, starts_on, ends_on, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(region.to_string())
        .bind(date_text(starts_on))
        .bind(date_text(ends_on))
        .bind(by)
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| fk_message(e, &format!("区划 {region} 不存在")))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Campaigns that cover part of `region` (their region contains it or lies inside it), newest first.
    pub async fn campaigns(&self, region: RegionCode) -> Result<Vec<Campaign>> {
        let rows = sqlx::query("SELECT * FROM screening_campaigns ORDER BY starts_on DESC, id DESC").fetch_all(&self.pool).await?;
        let all: Vec<Campaign> = rows.iter().map(campaign_from_row).collect::<Result<_>>()?;
        Ok(all.into_iter().filter(|c| c.region.contains(region) || region.contains(c.region)).collect())
    }

    pub async fn campaign(&self, id: i64) -> Result<Option<Campaign>> {
        let row = sqlx::query("SELECT * FROM screening_campaigns WHERE id = $1").bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(campaign_from_row).transpose()
    }

    /// Records (or corrects) households' screenings in a campaign, all or none.
    pub async fn record_screenings(&self, campaign_id: i64, screenings: &[Screening], audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let at = now();
        let sql = format!(
            "INSERT INTO screenings (campaign_id, household_no, screened_on, screened_by, result, illness_poor, recorded_at, county_code) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, {}) {} DO UPDATE SET \
             screened_on = excluded.screened_on, screened_by = excluded.screened_by, result = excluded.result, \
             illness_poor = excluded.illness_poor, recorded_at = excluded.recorded_at",
            crate::county::of_household_param(2),
            crate::county::on_conflict(self.backend, "campaign_id, household_no")
        );
        for s in screenings {
            sqlx::query(&sql)
            .bind(campaign_id)
            .bind(&s.household_no)
            .bind(date_text(s.screened_on))
            .bind(&s.screened_by)
            .bind(&s.result)
            .bind(i64::from(s.illness_poor))
            .bind(&at)
            .execute(&mut *tx)
            .await
            .map_err(|e| fk_message(e, &format!("筛查活动 {campaign_id} 或户 {} 不存在", s.household_no)))?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn screening(&self, campaign_id: i64, household_no: &str) -> Result<Option<Screening>> {
        Ok(self.stored_screening_in(&mut *self.pool.acquire().await?, campaign_id, household_no).await?.map(|s| s.screening))
    }

    async fn stored_screening_in(&self, conn: &mut sqlx::AnyConnection, campaign_id: i64, household_no: &str) -> Result<Option<StoredScreening>> {
        let row = sqlx::query("SELECT * FROM screenings WHERE campaign_id = $1 AND household_no = $2").bind(campaign_id).bind(household_no).fetch_optional(conn).await?;
        row.map(|r| {
            Ok(StoredScreening {
                screening: Screening {
                    household_no: r.try_get("household_no")?,
                    screened_on: parse_date(&r.try_get::<String, _>("screened_on")?)?,
                    screened_by: r.try_get("screened_by")?,
                    result: r.try_get("result")?,
                    illness_poor: r.try_get::<i64, _>("illness_poor")? != 0,
                },
                version: r.try_get("recorded_at")?,
                submission_key: r.try_get("submission_key")?,
            })
        })
        .transpose()
    }

    /// Records one household's screening sent with the key of its submission and, from a device
    /// that worked offline, the version of the household's result it saw (`based_on`: `Some(None)`
    /// when it saw none). The same key again is the same submission; a result stored since the
    /// version seen is a conflict, never overwritten. The check and the write are one statement.
    pub async fn record_screening(&self, campaign_id: i64, s: &Screening, key: &str, based_on: Option<Option<&str>>, audit: &AuditEntry) -> Result<ScreeningWrite> {
        let mut tx = self.begin_write().await?;
        let current = self.stored_screening_in(&mut tx, campaign_id, &s.household_no).await?;
        if let Some(c) = current.as_ref().filter(|c| c.submission_key.as_deref() == Some(key)) {
            return Ok(ScreeningWrite::Before { version: c.version.clone() });
        }
        let at = now();
        let insert = |then: &str| {
            format!(
                "INSERT INTO screenings (campaign_id, household_no, screened_on, screened_by, result, illness_poor, recorded_at, submission_key, county_code) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {}) {} {then}",
                crate::county::of_household_param(2),
                crate::county::on_conflict(self.backend, "campaign_id, household_no")
            )
        };
        let sql;
        let q = match based_on {
            // Seen a version: written only if it is still the stored one. (Parameters in the order
            // they first appear: SQLite numbers them so.)
            Some(Some(seen)) => sqlx::query(
                "UPDATE screenings SET screened_on = $1, screened_by = $2, result = $3, illness_poor = $4, recorded_at = $5, submission_key = $6 \
                 WHERE campaign_id = $7 AND household_no = $8 AND recorded_at = $9",
            )
            .bind(date_text(s.screened_on))
            .bind(&s.screened_by)
            .bind(&s.result)
            .bind(i64::from(s.illness_poor))
            .bind(&at)
            .bind(key)
            .bind(campaign_id)
            .bind(&s.household_no)
            .bind(seen),
            // Seen none: written only if there is none; no check asked for: written over.
            seen => {
                sql = if seen.is_some() {
                    insert("DO NOTHING")
                } else {
                    insert("DO UPDATE SET screened_on = $3, screened_by = $4, result = $5, illness_poor = $6, recorded_at = $7, submission_key = $8")
                };
                sqlx::query(&sql)
            }
            .bind(campaign_id)
            .bind(&s.household_no)
            .bind(date_text(s.screened_on))
            .bind(&s.screened_by)
            .bind(&s.result)
            .bind(i64::from(s.illness_poor))
            .bind(&at)
            .bind(key),
        };
        let written = q.execute(&mut *tx).await.map_err(|e| fk_message(e, &format!("筛查活动 {campaign_id} 或户 {} 不存在", s.household_no)))?.rows_affected();
        if written == 0 {
            // Another result is stored (PostgreSQL: perhaps committed by another connection since
            // the read above, which a new statement sees): the same submission, or a conflict.
            let now_stored = self.stored_screening_in(&mut tx, campaign_id, &s.household_no).await?.ok_or_else(|| StoreError::Refused(format!("户 {} 的筛查结果已被删除", s.household_no)))?;
            return Ok(if now_stored.submission_key.as_deref() == Some(key) { ScreeningWrite::Before { version: now_stored.version } } else { ScreeningWrite::Stale(now_stored) });
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(ScreeningWrite::Stored { version: at })
    }

    /// A campaign's progress in each child region of `region` (households in the programme).
    pub async fn screening_progress(&self, campaign_id: i64, region: RegionCode) -> Result<Vec<ScreeningProgress>> {
        let children = self.child_regions(region).await?;
        // The width of the child level's code prefix (a number we computed, so written into the SQL).
        let width = children.first().map_or(12, |c| c.code.prefix().len());
        let rows = sqlx::query(&format!(
            "SELECT SUBSTR(h.region_code, 1, {width}) AS child, COUNT(*) AS households, \
             CAST(SUM(CASE WHEN s.household_no IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS screened, \
             CAST(SUM(CASE WHEN s.illness_poor = 1 THEN 1 ELSE 0 END) AS BIGINT) AS ill \
             FROM households h LEFT JOIN screenings s ON s.household_no = h.household_no AND s.campaign_id = $1 \
             WHERE h.in_programme = 1 AND h.region_code >= $2 AND h.region_code < $2 || ':' GROUP BY SUBSTR(h.region_code, 1, {width})"
        ))
        .bind(campaign_id)
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut by_prefix: HashMap<String, (i64, i64, i64)> = HashMap::new();
        for r in &rows {
            by_prefix.insert(r.try_get("child")?, (r.try_get("households")?, r.try_get::<Option<i64>, _>("screened")?.unwrap_or(0), r.try_get::<Option<i64>, _>("ill")?.unwrap_or(0)));
        }
        let regions = if children.is_empty() { self.region(region).await?.into_iter().collect() } else { children };
        Ok(regions
            .into_iter()
            .map(|c| {
                let (to_screen, screened, illness_poor) = by_prefix.get(&c.code.prefix()).copied().unwrap_or_default();
                ScreeningProgress { region: c.code, name: c.name, to_screen, screened, illness_poor }
            })
            .collect())
    }

    /// The households in the programme inside `region` (by number, at most `limit`), each with
    /// its head's name and its result in the campaign if it has one.
    pub async fn households_to_screen(&self, campaign_id: i64, region: RegionCode, limit: i64) -> Result<Vec<(String, String, Option<StoredScreening>)>> {
        let rows = sqlx::query(
            "SELECT h.household_no, h.head_name, s.screened_on, s.screened_by, s.result, s.illness_poor, s.recorded_at, s.submission_key FROM households h \
             LEFT JOIN screenings s ON s.household_no = h.household_no AND s.campaign_id = $1 \
             WHERE h.in_programme = 1 AND h.region_code >= $2 AND h.region_code < $2 || ':' ORDER BY h.household_no LIMIT $3",
        )
        .bind(campaign_id)
        .bind(within(region))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let no: String = r.try_get("household_no")?;
                let on: Option<String> = r.try_get("screened_on")?;
                let screening = match on {
                    Some(on) => Some(StoredScreening {
                        screening: Screening {
                            household_no: no.clone(),
                            screened_on: parse_date(&on)?,
                            screened_by: r.try_get::<Option<String>, _>("screened_by")?.unwrap_or_default(),
                            result: r.try_get::<Option<String>, _>("result")?.unwrap_or_default(),
                            illness_poor: r.try_get::<Option<i64>, _>("illness_poor")?.unwrap_or(0) != 0,
                        },
                        version: r.try_get::<Option<String>, _>("recorded_at")?.unwrap_or_default(),
                        submission_key: r.try_get("submission_key")?,
                    }),
                    None => None,
                };
                Ok((no, r.try_get("head_name")?, screening))
            })
            .collect()
    }

    /// Persons in the programme inside `region` who have disease cards, with their diseases.
    pub async fn sick_persons(&self, region: RegionCode) -> Result<Vec<SickPerson>> {
        let rows = sqlx::query(
            "SELECT p.id, p.name, p.household_no, h.region_code, c.disease_code, c.disease_name, c.confidential \
             FROM disease_cards c JOIN persons p ON p.id = c.person_id JOIN households h ON h.household_no = p.household_no \
             WHERE p.in_programme = 1 AND h.region_code >= $1 AND h.region_code < $1 || ':' ORDER BY h.region_code, p.household_no, p.id, c.disease_code",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<SickPerson> = Vec::new();
        for r in &rows {
            let id: i64 = r.try_get("id")?;
            let code: String = r.try_get("disease_code")?;
            let confidential = r.try_get::<i64, _>("confidential")? != 0 || huimin_domain::legally_confidential(&code);
            let disease = (code, r.try_get("disease_name")?, confidential);
            match out.last_mut() {
                Some(last) if last.person_id == id => last.diseases.push(disease),
                _ => out.push(SickPerson {
                    person_id: id,
                    name: r.try_get("name")?,
                    household_no: r.try_get("household_no")?,
                    region: region_col(r, "region_code")?,
                    diseases: vec![disease],
                }),
            }
        }
        Ok(out)
    }

    /// What each person inside `region` paid themselves for settled claims discharged in `year` (fen).
    pub async fn own_payments(&self, region: RegionCode, year: i32) -> Result<HashMap<i64, i64>> {
        let rows = sqlx::query(
            "SELECT person_id, CAST(SUM(patient_total) AS BIGINT) AS paid FROM claims \
             WHERE status = 'settled' AND year = $1 AND region_code >= $2 AND region_code < $2 || ':' GROUP BY person_id",
        )
        .bind(i64::from(year))
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("person_id")?, r.try_get::<Option<i64>, _>("paid")?.unwrap_or(0)))).collect()
    }

    /// The persons with these ids, each with their household and its region (no diseases filled in).
    pub async fn persons_by_id(&self, ids: &[i64]) -> Result<Vec<SickPerson>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(5000) {
            let list = crate::batch::placeholders(self.backend, 1, chunk.len());
            let sql = format!("SELECT p.id, p.name, p.household_no, h.region_code FROM persons p JOIN households h ON h.household_no = p.household_no WHERE p.id IN ({list}) ORDER BY p.id");
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            for r in &q.fetch_all(&self.pool).await? {
                out.push(SickPerson { person_id: r.try_get("id")?, name: r.try_get("name")?, household_no: r.try_get("household_no")?, region: region_col(r, "region_code")?, diseases: Vec::new() });
            }
        }
        Ok(out)
    }

    pub async fn batch_overrides(&self, region: RegionCode) -> Result<HashMap<i64, BatchOverride>> {
        let rows = sqlx::query(
            "SELECT o.* FROM batch_overrides o JOIN persons p ON p.id = o.person_id JOIN households h ON h.household_no = p.household_no \
             WHERE h.region_code >= $1 AND h.region_code < $1 || ':'",
        )
        .bind(within(region))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let batch: Option<String> = r.try_get("batch")?;
                let batch = batch.map(|b| CareBatch::from_code(&b).ok_or_else(|| corrupt("batch", &b))).transpose()?;
                Ok((r.try_get("person_id")?, BatchOverride { batch, reason: r.try_get("reason")?, decided_by: r.try_get("decided_by")?, decided_at: r.try_get("decided_at")? }))
            })
            .collect()
    }

    /// Sets a person's batch by hand (`None`: in no batch), or with `clear` returns them to the rules.
    pub async fn set_batch_override(&self, person_id: i64, batch: Option<CareBatch>, clear: bool, reason: &str, by: &str, audit: &AuditEntry) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if clear {
            sqlx::query("DELETE FROM batch_overrides WHERE person_id = $1").bind(person_id).execute(&mut *tx).await?;
        } else {
            sqlx::query(&format!(
                "INSERT INTO batch_overrides (person_id, batch, reason, decided_by, decided_at, county_code) VALUES ($1, $2, $3, $4, $5, {}) \
                 {} DO UPDATE SET batch = excluded.batch, reason = excluded.reason, \
                 decided_by = excluded.decided_by, decided_at = excluded.decided_at",
                crate::county::of_person_param(1),
                crate::county::on_conflict(self.backend, "person_id")
            ))
            .bind(person_id)
            .bind(batch.map(|b| b.code()))
            .bind(reason)
            .bind(by)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(|e| fk_message(e, &format!("人员 {person_id} 不存在")))?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The ledger inside `region`, optionally of one status, oldest identification first.
    pub async fn treatments(&self, region: RegionCode, status: Option<TreatmentStatus>) -> Result<Vec<Treatment>> {
        let rows = sqlx::query(&format!(
            "{TREATMENT_SELECT} WHERE h.region_code >= $1 AND h.region_code < $1 || ':' AND ($2 = '' OR t.status = $2) ORDER BY t.identified_on, t.id"
        ))
        .bind(within(region))
        .bind(status.map_or("", |s| s.code()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(treatment_from_row).collect()
    }

    pub async fn treatment(&self, id: i64) -> Result<Option<Treatment>> {
        let row = sqlx::query(&format!("{TREATMENT_SELECT} WHERE t.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        row.as_ref().map(treatment_from_row).transpose()
    }

    /// Moves a ledger line on; a move the ledger does not allow is refused with the reason.
    pub async fn update_treatment(&self, id: i64, u: &TreatmentUpdate, by: &str, audit: &AuditEntry) -> Result<Treatment> {
        let mut tx = self.begin_write().await?;
        let current: Option<String> = sqlx::query_scalar("SELECT status FROM treatments WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let current = current.ok_or_else(|| StoreError::NotFound(format!("treatment {id}")))?;
        let current = TreatmentStatus::from_code(&current).ok_or_else(|| corrupt("treatment status", &current))?;
        if current != u.status && !current.may_become(u.status) {
            return Err(StoreError::Refused(format!("救治状态不能从「{}」改为「{}」", current.label_zh(), u.status.label_zh())));
        }
        sqlx::query("UPDATE treatments SET status = $1, facility_code = $2, plan = $3, reason = $4, updated_on = $5, updated_by = $6 WHERE id = $7")
            .bind(u.status.code())
            .bind(u.facility_code.as_deref())
            .bind(&u.plan)
            .bind(&u.reason)
            .bind(date_text(u.on))
            .bind(by)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(|e| fk_message(e, &format!("医疗机构 {} 不存在", u.facility_code.as_deref().unwrap_or(""))))?;
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        self.treatment(id).await?.ok_or_else(|| StoreError::NotFound(format!("treatment {id}")))
    }
}
