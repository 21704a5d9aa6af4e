//! [`ClassSeed`]: a class with its teacher and roster, written through the product's own
//! [`Store`] methods: the state most Roblox and SDK tests start from.

use crate::error::StoreError;
use crate::store::Store;

/// A class to create, with the users it needs.
#[derive(Debug, Clone, Copy)]
pub struct ClassSeed<'a> {
    /// The tenant (created if new).
    pub tenant: &'a str,
    /// The class id.
    pub id: &'a str,
    /// The class name.
    pub name: &'a str,
    /// The class code game servers link with.
    pub code: &'a str,
    /// The teacher's user id and display name (an educator, created).
    pub teacher: (&'a str, &'a str),
    /// The students' user ids and display names (created, and put on the roster).
    pub students: &'a [(&'a str, &'a str)],
}

impl ClassSeed<'_> {
    /// Creates the users (an id already taken is left as it is), the class and its roster.
    pub async fn write(&self, store: &Store) -> Result<(), StoreError> {
        let (teacher, teacher_name) = self.teacher;
        store
            .create_user(self.tenant, teacher, "educator", Some(teacher_name))
            .await?;
        for (student, student_name) in self.students {
            store
                .create_user(self.tenant, student, "student", Some(student_name))
                .await?;
        }
        store
            .create_class(self.tenant, self.id, self.name, Some(teacher), self.code)
            .await?;
        for (student, _) in self.students {
            store.add_to_roster(self.tenant, self.id, student).await?;
        }
        Ok(())
    }
}
