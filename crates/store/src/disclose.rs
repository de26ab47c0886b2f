//! What of each stored record a viewer may see (the rule is `huimin_domain::disclosure`).

use huimin_domain::{Concerns, Disclose, Record, Sight};

use crate::{StoredCard, StoredClaim, StoredExam, StoredFollowUp, Treatment};

impl Concerns for StoredClaim {
    fn concerns(&self) -> Record<'_> {
        Record::Claim { person: self.person_id, region: self.region, facility: &self.facility_code }
    }
}

impl Disclose for StoredClaim {
    /// Payments show to every claim role; the diagnoses by the rule.
    fn disclose(mut self, sight: &Sight<'_>) -> Option<(Self, usize)> {
        let before = self.claim.diseases.len();
        self.claim.diseases.retain(|code| sight.shows_diagnosis(code));
        let withheld = before - self.claim.diseases.len();
        Some((self, withheld))
    }
}

impl Disclose for StoredCard {
    /// A card is one diagnosis: it shows whole or not at all.
    fn disclose(self, sight: &Sight<'_>) -> Option<(Self, usize)> {
        sight.shows_card(&self.card.disease_code, self.card.confidential).then_some((self, 0))
    }
}

impl Disclose for Treatment {
    /// Those who keep the ledger see every line, a withheld diagnosis as 保密病种.
    fn disclose(mut self, sight: &Sight<'_>) -> Option<(Self, usize)> {
        if !sight.shows_health() {
            return None;
        }
        if sight.shows_card(&self.disease_code, self.confidential) {
            return Some((self, 0));
        }
        self.disease_code.clear();
        self.disease_name = "保密病种".into();
        self.plan.clear();
        Some((self, 1))
    }
}

impl Disclose for StoredExam {
    fn disclose(self, sight: &Sight<'_>) -> Option<(Self, usize)> {
        sight.shows_health().then_some((self, 0))
    }
}

impl Disclose for StoredFollowUp {
    fn disclose(self, sight: &Sight<'_>) -> Option<(Self, usize)> {
        sight.shows_health().then_some((self, 0))
    }
}
