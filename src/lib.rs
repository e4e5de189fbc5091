//! proxyhub: a management plane for reverse proxies.

pub mod app;
pub mod apply;
pub mod auth;
pub mod changelog;
pub mod config;
pub mod db;
pub mod error;
pub mod logs;
pub mod memory;
pub mod proxy;
pub mod reconcile;
pub mod status;
pub mod timestamps;
pub mod users;
pub mod vhosts;
pub mod web;
