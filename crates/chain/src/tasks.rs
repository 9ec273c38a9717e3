pub use crate::contracts::PoxTasks;
