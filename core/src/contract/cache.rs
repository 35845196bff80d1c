//! Compiled contract modules, bounded: the factory function each contract's code compiles to,
//! keyed by name and checked against the code's stored JSON text (a new version replaces it).

use boa_engine::JsObject;
use std::collections::HashMap;

pub struct ModuleCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, Entry>,
}

struct Entry {
    code: String,
    factory: JsObject,
    used: u64,
}

impl ModuleCache {
    pub fn new(capacity: usize) -> Self {
        ModuleCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    /// The factory compiled from exactly `code` under `name`, if cached.
    pub fn get(&mut self, name: &str, code: &str) -> Option<JsObject> {
        self.tick += 1;
        let entry = self.entries.get_mut(name)?;
        if entry.code != code {
            return None;
        }
        entry.used = self.tick;
        Some(entry.factory.clone())
    }

    /// Caches a factory, evicting the least recently used entry when full.
    pub fn insert(&mut self, name: &str, code: &str, factory: JsObject) {
        if !self.entries.contains_key(name) && self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        let entry = Entry {
            code: code.to_string(),
            factory,
            used: self.tick,
        };
        self.entries.insert(name.to_string(), entry);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
