namespace Tern.Hosting;

/// <summary>
/// The data directory, created with mode 0700 and held under an exclusive lock (flock on
/// <c>tern.lock</c>) for the life of the process, so that two Tern processes never share one spool.
/// </summary>
public sealed class DataDirectory : IDisposable
{
    private readonly FileStream _lock;

    private DataDirectory(string path, FileStream lockFile)
    {
        Path = path;
        _lock = lockFile;
    }

    public string Path { get; }

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    /// <exception cref="InvalidOperationException">The directory cannot be created or is in use; the message says which.</exception>
    public static DataDirectory Open(string path)
    {
        try
        {
            if (!Directory.Exists(path))
            {
                Directory.CreateDirectory(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot create data directory {path}: {e.Message}", e);
        }

        var lockPath = System.IO.Path.Combine(path, "tern.lock");
        try
        {
            // FileShare.None takes an advisory exclusive lock (flock) on Unix.
            var stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            stream.SetLength(0);
            var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n");
            stream.Write(pid);
            stream.Flush();
            return new DataDirectory(path, stream);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException($"data directory {path} is in use by another Tern process (lock {lockPath}): {e.Message}", e);
        }
        catch (UnauthorizedAccessException e)
        {
            throw new InvalidOperationException($"cannot write to data directory {path}: {e.Message}", e);
        }
    }

    public void Dispose() => _lock.Dispose();
}
