pub mod table;
pub mod roster;
pub mod import;
pub mod synthetic;
