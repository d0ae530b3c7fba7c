using System.Runtime.InteropServices;

namespace Tern.Platform;

/// <summary>
/// The libc calls .NET does not expose (directory fsync, O_DSYNC). One source file, compiled into each
/// library that needs it (linked from src/Shared), so that no library depends on another for it. Bound at link time in the host's static
/// binary (<c>DirectPInvoke</c> of libc in aot.props), so no second libc is loaded; under the JIT
/// (tests) libc is loaded the usual way.
/// </summary>
internal static partial class Posix
{
    private const int ORdOnly = 0;
    private const int OWrOnly = 1;
    private const int ODirectory = 0x10000;
    private const int OCloexec = 0x80000;
    private const int ODsync = 0x1000;

    /// <summary>
    /// Opens an existing file for writing with O_DSYNC: each write returns once its data, and the
    /// metadata needed to read it back (a new size, new blocks), are on the disk, but not a changed
    /// modification time, which O_SYNC (.NET's FileOptions.WriteThrough) also writes: on ext4 a
    /// second synchronous I/O per write for the inode. (What fdatasync(2) is to fsync(2).)
    /// </summary>
    public static Microsoft.Win32.SafeHandles.SafeFileHandle OpenForDataSyncWrites(string path)
    {
        var fd = Open(path, OWrOnly | ODsync | OCloexec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw errno == 2
                ? new FileNotFoundException($"cannot open {path}: no such file", path)
                : new IOException($"cannot open {path} for writing: errno {errno}", errno);
        }

        return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>fsync(2) on a directory: makes renames and creations inside it durable.</summary>
    public static void FsyncDirectory(string path)
    {
        var fd = Open(path, ORdOnly | ODirectory | OCloexec);
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {path}: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (Fsync(fd) != 0)
            {
                throw new IOException($"fsync of directory {path} failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// A signal the process inherited as ignored (SIG_IGN: <c>nohup</c> does this to SIGHUP) goes back to
    /// its default disposition, so that a handler registered next is installed: .NET's
    /// PosixSignalRegistration leaves an inherited SIG_IGN in place, and SIGHUP then never reaches it (the
    /// reload silently does nothing). Go's signal.Notify does the same for this reason. Returns whether it
    /// was ignored. Call it before the registration: a signal arriving in between has its default effect.
    /// </summary>
    public static unsafe bool UnignoreSignal(int signal)
    {
        // glibc's struct sigaction on x86-64 and arm64 starts with the handler; 152 bytes, some to spare.
        var old = stackalloc byte[256];
        if (Sigaction(signal, null, old) != 0 || *(nint*)old != SigIgn)
        {
            return false;
        }

        _ = Signal(signal, SigDfl);
        return true;
    }

    private const nint SigDfl = 0;
    private const nint SigIgn = 1;

    [LibraryImport("libc", EntryPoint = "sigaction", SetLastError = true)]
    private static unsafe partial int Sigaction(int signal, void* action, void* old);

    [LibraryImport("libc", EntryPoint = "signal", SetLastError = true)]
    private static partial nint Signal(int signal, nint handler);

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
