//! A minimal, read-only flattened device tree (DTB) parser: just what the program needs
//! to find memory, the UART, PSCI, the PCIe host bridge and the SMMU.
//!
//! Every read is bounds-checked: a malformed blob ends an iteration or yields `None`, it
//! never panics. Format: devicetree specification v0.4, chapter 5 (big-endian header,
//! structure block of tokens, strings block).

/// Why a blob was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdtError {
    /// The magic number is not 0xd00dfeed.
    BadMagic,
    /// The header's sizes or offsets are inconsistent.
    BadHeader,
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
/// Deepest node nesting followed (QEMU's trees are 3 levels deep).
const MAX_DEPTH: usize = 16;
/// Largest blob accepted by [`Fdt::from_ptr`].
const MAX_TOTALSIZE: usize = 16 << 20;

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

/// A NUL-terminated string starting at `at`, without the NUL.
fn cstr(bytes: &[u8], at: usize) -> Option<&str> {
    let rest = bytes.get(at..)?;
    let len = rest.iter().position(|&b| b == 0)?;
    core::str::from_utf8(rest.get(..len)?).ok()
}

/// Reads `cells` big-endian 32-bit cells as one number (at most two cells are
/// meaningful; more leading cells must be zero).
pub fn read_cells(bytes: &[u8], cells: u32) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..usize::try_from(cells).ok()? {
        let cell = be32(bytes, i.checked_mul(4)?)?;
        if value >> 32 != 0 {
            return None;
        }
        value = (value << 32) | u64::from(cell);
    }
    Some(value)
}

/// A parsed device tree blob.
#[derive(Clone, Copy)]
pub struct Fdt<'a> {
    structs: &'a [u8],
    strings: &'a [u8],
    totalsize: usize,
}

impl<'a> Fdt<'a> {
    /// Checks the header of `blob` and locates its blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, FdtError> {
        if be32(blob, 0) != Some(FDT_MAGIC) {
            return Err(FdtError::BadMagic);
        }
        let field = |at: usize| {
            be32(blob, at)
                .and_then(|v| usize::try_from(v).ok())
                .ok_or(FdtError::BadHeader)
        };
        let totalsize = field(4)?;
        let off_struct = field(8)?;
        let off_strings = field(12)?;
        let version = field(20)?;
        let size_strings = field(32)?;
        let size_struct = field(36)?;
        if version < 17 || totalsize > blob.len() {
            return Err(FdtError::BadHeader);
        }
        let block = |off: usize, size: usize| {
            off.checked_add(size)
                .filter(|&end| end <= totalsize)
                .and_then(|end| blob.get(off..end))
                .ok_or(FdtError::BadHeader)
        };
        Ok(Self {
            structs: block(off_struct, size_struct)?,
            strings: block(off_strings, size_strings)?,
            totalsize,
        })
    }

    /// Parses the blob at `ptr`, whose length is taken from its header.
    ///
    /// # Safety
    ///
    /// `ptr` is readable for 40 bytes and, if it holds the FDT magic, for the header's
    /// `totalsize` bytes (capped at 16 MiB), and that memory is not written for `'static`.
    pub unsafe fn from_ptr(ptr: *const u8) -> Result<Fdt<'static>, FdtError> {
        // SAFETY: the caller guarantees 40 readable bytes, enough for the v17 header.
        let header = unsafe { core::slice::from_raw_parts(ptr, 40) };
        if be32(header, 0) != Some(FDT_MAGIC) {
            return Err(FdtError::BadMagic);
        }
        let totalsize = be32(header, 4)
            .and_then(|v| usize::try_from(v).ok())
            .filter(|&size| (40..=MAX_TOTALSIZE).contains(&size))
            .ok_or(FdtError::BadHeader)?;
        // SAFETY: the magic is there, so the caller guarantees `totalsize` readable,
        // unchanging bytes.
        let blob = unsafe { core::slice::from_raw_parts(ptr, totalsize) };
        Fdt::new(blob)
    }

    /// The blob's total size in bytes.
    pub fn totalsize(&self) -> usize {
        self.totalsize
    }

    /// Every node, in document order.
    pub fn nodes(&self) -> Nodes<'a> {
        Nodes {
            fdt: *self,
            at: 0,
            depth: 0,
            cells: [Cells::DEFAULT; MAX_DEPTH + 1],
            done: false,
        }
    }

    /// The first node whose `compatible` list contains `compatible`.
    pub fn find_compatible(&self, compatible: &str) -> Option<Node<'a>> {
        self.nodes().find(|n| n.is_compatible(compatible))
    }

    /// The node at `path` (`/name@unit/...`; a component without `@` also matches a node
    /// name with a unit address).
    pub fn find_path(&self, path: &str) -> Option<Node<'a>> {
        if path == "/" {
            return self.nodes().next();
        }
        let mut want = path.trim_start_matches('/').split('/');
        let mut next = want.next()?;
        let mut level = 1;
        for node in self.nodes().skip(1) {
            if node.depth < level {
                return None;
            }
            if node.depth == level && name_matches(node.name, next) {
                match want.next() {
                    None => return Some(node),
                    Some(component) => {
                        next = component;
                        level += 1;
                    }
                }
            }
        }
        None
    }

    /// The node whose `phandle` property is `phandle`.
    pub fn find_phandle(&self, phandle: u32) -> Option<Node<'a>> {
        self.nodes().find(|n| {
            n.prop_u32("phandle")
                .or_else(|| n.prop_u32("linux,phandle"))
                == Some(phandle)
        })
    }
}

fn name_matches(name: &str, want: &str) -> bool {
    name == want || (!want.contains('@') && name.split('@').next() == Some(want))
}

/// `#address-cells` / `#size-cells` of a node (they apply to its children).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cells {
    /// `#address-cells`.
    pub address: u32,
    /// `#size-cells`.
    pub size: u32,
}

impl Cells {
    /// The defaults the specification gives a node without the properties.
    pub const DEFAULT: Self = Self {
        address: 2,
        size: 1,
    };
}

/// Iterator over the nodes of a tree.
pub struct Nodes<'a> {
    fdt: Fdt<'a>,
    at: usize,
    depth: usize,
    cells: [Cells; MAX_DEPTH + 1],
    done: bool,
}

impl<'a> Iterator for Nodes<'a> {
    type Item = Node<'a>;

    fn next(&mut self) -> Option<Node<'a>> {
        let structs = self.fdt.structs;
        while !self.done {
            let Some(token) = be32(structs, self.at) else {
                self.done = true;
                break;
            };
            let after = self.at + 4;
            match token {
                FDT_BEGIN_NODE => {
                    let (Some(name), Some(&parent_cells)) =
                        (cstr(structs, after), self.cells.get(self.depth))
                    else {
                        self.done = true;
                        break;
                    };
                    let Some(props_at) = align4(after + name.len() + 1) else {
                        self.done = true;
                        break;
                    };
                    let mut node = Node {
                        fdt: self.fdt,
                        name,
                        depth: self.depth,
                        props_at,
                        parent_cells,
                        cells: Cells::DEFAULT,
                    };
                    node.cells = Cells {
                        address: node.prop_u32("#address-cells").unwrap_or(2),
                        size: node.prop_u32("#size-cells").unwrap_or(1),
                    };
                    self.depth += 1;
                    let Some(slot) = self.cells.get_mut(self.depth) else {
                        self.done = true;
                        break;
                    };
                    *slot = node.cells;
                    self.at = props_at;
                    return Some(node);
                }
                FDT_END_NODE => {
                    self.at = after;
                    if self.depth == 0 {
                        self.done = true;
                    } else {
                        self.depth -= 1;
                    }
                }
                FDT_PROP => match prop_end(structs, after) {
                    Some(end) => self.at = end,
                    None => self.done = true,
                },
                FDT_NOP => self.at = after,
                _ => self.done = true, // FDT_END (9) or garbage
            }
            if self.depth >= MAX_DEPTH {
                self.done = true;
            }
        }
        None
    }
}

/// Given the offset just after an `FDT_PROP` token, the offset after the property.
fn prop_end(structs: &[u8], after_token: usize) -> Option<usize> {
    let len = usize::try_from(be32(structs, after_token)?).ok()?;
    align4(after_token.checked_add(8)?.checked_add(len)?)
}

/// One node of the tree.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    /// The node name, with its unit address (`pcie@10000000`); empty for the root.
    pub name: &'a str,
    /// 0 for the root node.
    pub depth: usize,
    props_at: usize,
    /// The parent's cells: the layout of this node's `reg`.
    pub parent_cells: Cells,
    /// This node's cells: the layout of its children's `reg` (and of `ranges` entries).
    pub cells: Cells,
}

impl<'a> Node<'a> {
    /// The node's properties, as (name, value).
    pub fn props(&self) -> Props<'a> {
        Props {
            fdt: self.fdt,
            at: self.props_at,
        }
    }

    /// The value of property `name`.
    pub fn prop(&self, name: &str) -> Option<&'a [u8]> {
        self.props().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// A one-cell property.
    pub fn prop_u32(&self, name: &str) -> Option<u32> {
        self.prop(name)
            .filter(|v| v.len() == 4)
            .and_then(|v| be32(v, 0))
    }

    /// A string property (the first string of a list).
    pub fn prop_str(&self, name: &str) -> Option<&'a str> {
        self.prop(name).and_then(|v| cstr(v, 0))
    }

    /// Whether the `compatible` string list contains `compatible`.
    pub fn is_compatible(&self, compatible: &str) -> bool {
        self.prop("compatible").is_some_and(|list| {
            list.split(|&b| b == 0)
                .any(|entry| entry == compatible.as_bytes())
        })
    }

    /// The (address, size) pairs of `reg`, decoded with the parent's cells.
    pub fn reg(&self) -> impl Iterator<Item = (u64, u64)> + 'a {
        let value = self.prop("reg").unwrap_or(&[]);
        let cells = self.parent_cells;
        let stride = (cells.address + cells.size) as usize * 4;
        let count = value.len().checked_div(stride).unwrap_or(0);
        (0..count).filter_map(move |i| {
            let entry = value.get(i * stride..)?;
            let address = read_cells(entry, cells.address)?;
            let size = read_cells(entry.get(cells.address as usize * 4..)?, cells.size)?;
            Some((address, size))
        })
    }
}

/// Iterator over a node's properties.
pub struct Props<'a> {
    fdt: Fdt<'a>,
    at: usize,
}

impl<'a> Iterator for Props<'a> {
    type Item = (&'a str, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let structs = self.fdt.structs;
        loop {
            match be32(structs, self.at)? {
                FDT_NOP => self.at += 4,
                FDT_PROP => {
                    let after = self.at + 4;
                    let len = usize::try_from(be32(structs, after)?).ok()?;
                    let nameoff = usize::try_from(be32(structs, after + 4)?).ok()?;
                    let start = after + 8;
                    let value = structs.get(start..start.checked_add(len)?)?;
                    let name = cstr(self.fdt.strings, nameoff)?;
                    self.at = prop_end(structs, after)?;
                    return Some((name, value));
                }
                _ => return None, // a child node or the end of this node
            }
        }
    }
}
