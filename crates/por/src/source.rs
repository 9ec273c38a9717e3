//! Where a holder's bytes come from: anything that reads at an offset.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Random-access reads, as a holder answers a challenge: a file, or bytes in memory.
///
/// Implementation notes: `read_exact_at` fills all of `buf` from `offset` or fails
/// (`UnexpectedEof` past the end); `size` is the current length in bytes. Neither moves a
/// cursor, so one source can serve several readers.
pub trait ReadAt {
    /// The length in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl ReadAt for File {
    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| io::ErrorKind::UnexpectedEof)?;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or(io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for &T {
    fn size(&self) -> io::Result<u64> {
        (**self).size()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        (**self).read_exact_at(buf, offset)
    }
}
