using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Smtp.Client.Tls;

/// <summary>
/// The PKIX trust roots of the SMTP client: PEM bundles (<see cref="ClientTlsOptions.CaBundlePath"/>)
/// parsed once per path and kept until the file changes. Not a process-wide cache: the owner of the
/// delivery machinery holds one instance and passes it to
/// <see cref="TlsVerifier.Verify(X509Certificate2, X509Chain?, ClientTlsOptions, TrustStore?)"/>.
/// Thread-safe; verification callbacks of concurrent handshakes may share it.
/// </summary>
public sealed class TrustStore : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Bundle> _bundles = new(StringComparer.Ordinal);
    private bool _disposed;

    private sealed record Bundle(DateTime WrittenUtc, long Length, X509Certificate2Collection Roots);

    /// <summary>
    /// The certificates of the PEM bundle at <paramref name="path"/> (only "CERTIFICATE" blocks;
    /// "TRUSTED CERTIFICATE" and key blocks are skipped). Re-read when the file's modification time
    /// or length changes, so a replaced bundle takes effect without a restart.
    /// </summary>
    /// <remarks>
    /// The collection is the caller's (a copy); the certificates in it are the store's and stay valid
    /// until it is disposed: do not dispose them. Useful for other PKIX users of the same bundle
    /// (e.g. the MTA-STS policy fetch, RFC 8461 section 3.3).
    /// </remarks>
    /// <exception cref="IOException">The file cannot be read.</exception>
    /// <exception cref="CryptographicException">A certificate block is malformed.</exception>
    public X509Certificate2Collection GetRoots(string path) => new(Roots(path));

    /// <summary>The cached collection itself; callers must not modify it.</summary>
    internal X509Certificate2Collection Roots(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var info = new FileInfo(path);
        if (!info.Exists)
            throw new FileNotFoundException("CA bundle not found", path);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_bundles.TryGetValue(path, out var cached) && cached.WrittenUtc == info.LastWriteTimeUtc && cached.Length == info.Length)
                return cached.Roots;
            // A replaced bundle's old certificates are not disposed here: a concurrent chain build may
            // still hold them; they are left to the finalizer.
            var roots = Load(path);
            _bundles[path] = new Bundle(info.LastWriteTimeUtc, info.Length, roots);
            return roots;
        }
    }

    /// <summary>Parses a PEM bundle without caching (the caller owns and disposes the certificates).</summary>
    internal static X509Certificate2Collection Load(string path)
    {
        var roots = new X509Certificate2Collection();
        roots.ImportFromPemFile(path);
        return roots;
    }

    /// <summary>Disposes every cached certificate. Call only when no verification is running.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            foreach (var bundle in _bundles.Values)
                foreach (var cert in bundle.Roots)
                    cert.Dispose();
            _bundles.Clear();
        }
    }
}
