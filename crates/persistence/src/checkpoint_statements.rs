//! The checkpoint upsert in a few fixed batch shapes, so every statement a
//! checkpoint runs is one of four constant texts per database.
//!
//! sqlx prepares a statement once per connection and text and keeps it in the
//! connection's cache (`persistent(true)` is the default, and the `Any` driver
//! passes it on). A statement whose text depends on the batch length is a new
//! text nearly every batch: SQLite parsed it again each time, and with
//! numbered parameters (`$1` ... `$10000`) both its parser and sqlx's binding
//! (`sqlite3_bind_parameter_name`, a linear search per parameter) cost time
//! that grows with the square of the rows. So a batch is cut into statements
//! of [`SHAPES`] rows, largest first (300 rows: 256 + 5 × 8 + 4 × 1), and on
//! SQLite the parameters are anonymous `?`, bound in order.
//!
//! PostgreSQL gets the same shapes with `$n` parameters: the `Any` driver has no
//! array values, so `UNNEST($1::bigint[], ...)` is not available through it.

use std::sync::{Arc, LazyLock};

use crate::store::Backend;

/// Rows per statement, largest first; the last is 1, so every length is a sum
/// of shapes. 256 rows are 2,560 parameters: far under SQLite's 32,766 and
/// PostgreSQL's 65,535.
pub(crate) const SHAPES: [usize; 4] = [256, 64, 8, 1];

/// Values per row, in the column order of the statement.
const COLUMNS_PER_ROW: usize = 10;

const INSERT: &str = "INSERT INTO characters (account_id, space_id, zone_id, x, y, heading, \
                      appearance, inventory, inventory_version, updated_at) VALUES ";

const ON_CONFLICT: &str = " ON CONFLICT (account_id, space_id) DO UPDATE SET \
                           zone_id = excluded.zone_id, x = excluded.x, y = excluded.y, \
                           heading = excluded.heading, appearance = excluded.appearance, \
                           updated_at = excluded.updated_at";

/// The upsert texts of one database, one per shape (in the order of
/// [`SHAPES`]).
#[derive(Debug)]
pub(crate) struct CheckpointStatements {
    by_shape: [Arc<str>; SHAPES.len()],
}

static SQLITE: LazyLock<CheckpointStatements> =
    LazyLock::new(|| CheckpointStatements::build(Backend::Sqlite));

static POSTGRES: LazyLock<CheckpointStatements> =
    LazyLock::new(|| CheckpointStatements::build(Backend::Postgres));

impl CheckpointStatements {
    /// The texts for `backend`, built once per process.
    pub(crate) fn for_backend(backend: Backend) -> &'static Self {
        match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        }
    }

    fn build(backend: Backend) -> Self {
        Self {
            by_shape: SHAPES.map(|rows| Arc::from(upsert_text(backend, rows))),
        }
    }

    /// Cuts `batch` into runs of [`SHAPES`] rows, largest first, each with
    /// the text that writes exactly that many rows.
    pub(crate) fn chunks<'a, T>(
        &'a self,
        batch: &'a [T],
    ) -> impl Iterator<Item = (&'a [T], &'a Arc<str>)> + 'a {
        let mut rest = batch;
        std::iter::from_fn(move || {
            let (shape, text) = SHAPES
                .iter()
                .zip(&self.by_shape)
                .find(|(shape, _)| **shape <= rest.len())?;
            let (chunk, tail) = rest.split_at(*shape);
            rest = tail;
            Some((chunk, text))
        })
    }
}

/// The multi-row upsert of `rows` rows: anonymous `?` parameters on SQLite
/// (bound in order), numbered `$n` on PostgreSQL.
fn upsert_text(backend: Backend, rows: usize) -> String {
    let mut text = String::with_capacity(INSERT.len() + ON_CONFLICT.len() + rows * 64);
    text.push_str(INSERT);
    for row in 0..rows {
        if row > 0 {
            text.push(',');
        }
        text.push('(');
        for column in 0..COLUMNS_PER_ROW {
            if column > 0 {
                text.push(',');
            }
            match backend {
                Backend::Sqlite => text.push('?'),
                Backend::Postgres => {
                    text.push('$');
                    text.push_str(&(row * COLUMNS_PER_ROW + column + 1).to_string());
                }
            }
        }
        text.push(')');
    }
    text.push_str(ON_CONFLICT);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shapes_of(rows: usize) -> Vec<usize> {
        let batch = vec![(); rows];
        CheckpointStatements::for_backend(Backend::Sqlite)
            .chunks(&batch)
            .map(|(chunk, _)| chunk.len())
            .collect()
    }

    #[test]
    fn every_length_is_cut_into_fixed_shapes_largest_first() {
        assert!(shapes_of(0).is_empty());
        assert_eq!(shapes_of(1), [1]);
        assert_eq!(shapes_of(7), [1; 7]);
        assert_eq!(shapes_of(300), [256, 8, 8, 8, 8, 8, 1, 1, 1, 1]);
        for rows in 0..2_000 {
            let shapes = shapes_of(rows);
            assert_eq!(shapes.iter().sum::<usize>(), rows);
            assert!(shapes.iter().all(|shape| SHAPES.contains(shape)));
            assert!(shapes.windows(2).all(|pair| pair[0] >= pair[1]));
        }
    }

    #[test]
    fn each_chunk_gets_the_text_with_as_many_rows() {
        let batch = vec![(); 1_000];
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for (chunk, text) in CheckpointStatements::for_backend(backend).chunks(&batch) {
                assert_eq!(text.matches("),(").count() + 1, chunk.len(), "{backend:?}");
                let parameters = match backend {
                    Backend::Sqlite => text.matches('?').count(),
                    Backend::Postgres => text.matches('$').count(),
                };
                assert_eq!(parameters, chunk.len() * COLUMNS_PER_ROW);
            }
        }
    }

    #[test]
    fn the_texts_differ_only_in_placeholders() {
        let sqlite = upsert_text(Backend::Sqlite, 2);
        assert!(sqlite.contains("VALUES (?,?,?,?,?,?,?,?,?,?),(?,?,?,?,?,?,?,?,?,?) ON CONFLICT"));
        assert!(!sqlite.contains('$'));
        let postgres = upsert_text(Backend::Postgres, 2);
        assert!(postgres.contains("($11,$12,$13,$14,$15,$16,$17,$18,$19,$20) ON CONFLICT"));
    }
}
