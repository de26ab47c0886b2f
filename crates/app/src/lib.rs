pub mod table;
pub mod roster;
pub mod import;
pub mod synthetic;
pub mod accounts;
pub mod demo;
pub mod calculator;
pub mod settlement;
