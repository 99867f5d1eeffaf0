//! Finding a facility by whatever name an outside system or an operator gives it.

use renkei_storage::{Facility, FacilityQuery, Store, StoreResult};

/// The facility named by `key`: its directory code (`F00042`, case-insensitive), its
/// internal ID, or its 10-digit medical institution code (医療機関コード) — the forms that
/// appear in MSH-4, in command-line flags and in forms.
pub async fn find(store: &dyn Store, key: &str) -> StoreResult<Option<Facility>> {
    let key = key.trim();
    if key.is_empty() {
        return Ok(None);
    }
    if let Some(f) = store.get_facility(key).await? {
        return Ok(Some(f));
    }
    let code = key.to_ascii_uppercase();
    let by_code = code.starts_with('F') && code[1..].bytes().all(|b| b.is_ascii_digit());
    let by_institution = key.len() == 10 && key.bytes().all(|b| b.is_ascii_digit());
    if !by_code && !by_institution {
        return Ok(None);
    }
    // The directory search matches codes; institution codes need a scan of the (small,
    // thousands at most) facility list.
    let mut offset = 0;
    loop {
        let page = store
            .search_facilities(&FacilityQuery {
                text: by_code.then(|| code.clone()),
                limit: 500,
                offset,
                ..Default::default()
            })
            .await?;
        let n = page.items.len() as i64;
        let found = page.items.into_iter().find(|f| {
            (by_code && f.code.as_deref() == Some(code.as_str()))
                || (by_institution && f.official_id == key)
        });
        if found.is_some() {
            return Ok(found);
        }
        if n < 500 {
            return Ok(None);
        }
        offset += n;
    }
}
