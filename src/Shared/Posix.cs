using System.Runtime.InteropServices;

namespace Tern.Platform;

/// <summary>
/// The libc calls .NET does not expose (directory fsync). One source file, compiled into each
/// library that needs it (linked from src/Shared), so that no library depends on another for it. Bound at link time in the host's static
/// binary (<c>DirectPInvoke</c> of libc in aot.props), so no second libc is loaded; under the JIT
/// (tests) libc is loaded the usual way.
/// </summary>
internal static partial class Posix
{
    private const int ORdOnly = 0;
    private const int ODirectory = 0x10000;
    private const int OCloexec = 0x80000;

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

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
