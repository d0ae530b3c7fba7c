using System.Diagnostics;
using System.Security.Cryptography;

namespace Tern.Platform;

/// <summary>
/// A small file (mode 0600) that several processes change: the account file, the injection API's
/// token file. A change is made under an exclusive lock on <c>FILE.lock</c> (<see cref="Lock"/>),
/// so that two <c>tern account</c> commands (or the CLI and a running server) never lose each
/// other's updates, and the file is replaced atomically (<see cref="Replace"/>): a temporary file in
/// the same directory, flushed to disk, renamed over the old one, the directory fsynced. A crash
/// leaves either the old or the new file, never a torn one. One source file, linked into each
/// library that needs it, like <see cref="Posix"/>.
/// </summary>
/// <remarks>
/// Errors are the owner's: <c>error(message, inner)</c> makes the exception to throw, and the
/// message names the file as <c>KIND PATH</c> ("cannot write token file /data/api-tokens.json: …").
/// </remarks>
internal sealed class LockedFile
{
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private static readonly TimeSpan LockTimeout = TimeSpan.FromSeconds(10);

    private readonly string _kind;
    private readonly Func<string, Exception, Exception> _error;

    /// <param name="path">The file (absolute).</param>
    /// <param name="kind">What the file is, for messages: "account file", "token file".</param>
    /// <param name="error">The owner's exception for a message and the I/O error behind it.</param>
    public LockedFile(string path, string kind, Func<string, Exception, Exception> error)
    {
        FilePath = path;
        _kind = kind;
        _error = error;
    }

    public string FilePath { get; }

    /// <summary>
    /// Creates the directory (0700) when missing, then takes an exclusive flock on FILE.lock
    /// (FileShare.None), retried briefly while another process holds it. Dispose to release.
    /// </summary>
    public FileStream Lock()
    {
        var directory = Path.GetDirectoryName(FilePath)!;
        try
        {
            if (!Directory.Exists(directory))
            {
                Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw _error($"cannot create directory {directory} for {_kind} {FilePath}: {e.Message}", e);
        }

        var lockPath = FilePath + ".lock";
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            try
            {
                return new FileStream(lockPath, new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate,
                    Access = FileAccess.ReadWrite,
                    Share = FileShare.None,
                    UnixCreateMode = PrivateFile,
                });
            }
            catch (IOException) when (Stopwatch.GetElapsedTime(started) < LockTimeout)
            {
                Thread.Sleep(20);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw _error($"cannot lock {_kind} {FilePath} ({lockPath}; another tern account command running?): {e.Message}", e);
            }
        }
    }

    /// <summary>Replaces the file with what <paramref name="write"/> writes (call under <see cref="Lock"/>).</summary>
    public void Replace(Action<Stream> write)
    {
        var directory = Path.GetDirectoryName(FilePath)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(FilePath)}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6))}.tmp");
        try
        {
            using (var stream = new FileStream(temp, new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
                UnixCreateMode = PrivateFile,
            }))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }

            // rename(2) replaces the old file atomically; the new one keeps the temp file's 0600.
            // The rename survives power loss once the directory is on disk too.
            File.Move(temp, FilePath, overwrite: true);
            Posix.FsyncDirectory(directory);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try
            {
                File.Delete(temp);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException)
            {
                // The write error below is the one to report.
            }

            throw _error($"cannot write {_kind} {FilePath}: {e.Message}", e);
        }
    }
}

/// <summary>Size and modification time: how a reader notices that another process replaced a <see cref="LockedFile"/>.</summary>
internal readonly record struct FileStamp(long Length, DateTime LastWriteUtc)
{
    /// <summary>Matches no file, present or not: the next check reads.</summary>
    public static readonly FileStamp? NotRead = new FileStamp(-1, DateTime.MinValue);

    /// <summary>The file's stamp, or null when there is no file.</summary>
    public static FileStamp? Of(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc) : null;
    }
}
