using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace Tern.Smtp.Server;

/// <summary>
/// A TLS certificate loaded from PEM files (chain + key) and reloaded when the files change (checked
/// at most every few seconds, at handshake time) or on <see cref="Reload"/> (the host calls it on
/// SIGHUP). A failed reload keeps the certificate in use.
/// </summary>
public sealed class ServerCertificate : IDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(5);
    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private volatile Loaded _current;
    private Loaded? _previous;
    private long _nextCheck;

    public ServerCertificate(string certificatePath, string keyPath, TimeProvider? clock = null)
    {
        CertificatePath = certificatePath;
        KeyPath = keyPath;
        _clock = clock ?? TimeProvider.System;
        _current = Load(certificatePath, keyPath);
        _nextCheck = _clock.GetTimestamp() + (long)(CheckInterval.TotalSeconds * _clock.TimestampFrequency);
    }

    public string CertificatePath { get; }

    public string KeyPath { get; }

    /// <summary>The certificate context for SslStream, reloaded first if the files changed.</summary>
    public SslStreamCertificateContext Context
    {
        get
        {
            var now = _clock.GetTimestamp();
            if (now >= Interlocked.Read(ref _nextCheck))
            {
                Interlocked.Exchange(ref _nextCheck, now + (long)(CheckInterval.TotalSeconds * _clock.TimestampFrequency));
                var current = _current;
                if (Stamp(CertificatePath, KeyPath) != current.Stamp)
                {
                    TryReload(out _);
                }
            }

            return _current.Context;
        }
    }

    /// <summary>The leaf certificate in use (for channel bindings and logging).</summary>
    public X509Certificate2 Leaf => _current.Leaf;

    /// <summary>Loads the files again. Returns false (keeping the old certificate) when they are unusable.</summary>
    public bool Reload(out string? error) => TryReload(out error);

    public void Dispose()
    {
        _previous?.Leaf.Dispose();
        _current.Leaf.Dispose();
    }

    private bool TryReload(out string? error)
    {
        lock (_lock)
        {
            try
            {
                var loaded = Load(CertificatePath, KeyPath);

                // Handshakes in flight may still use the certificate being replaced: it is disposed
                // one reload later, so at most one old certificate stays alive.
                _previous?.Leaf.Dispose();
                _previous = _current;
                _current = loaded;
                error = null;
                return true;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                error = e.Message;
                return false;
            }
        }
    }

    private static Loaded Load(string certificatePath, string keyPath)
    {
        var stamp = Stamp(certificatePath, keyPath);
        using var fromPem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);

        // Re-import as PKCS#12 so that the private key is usable by SslStream on every platform.
        var leaf = X509CertificateLoader.LoadPkcs12(fromPem.Export(X509ContentType.Pkcs12), null);
        var chain = new X509Certificate2Collection();
        chain.ImportFromPemFile(certificatePath);
        var intermediates = new X509Certificate2Collection();
        foreach (var c in chain)
        {
            if (c.Thumbprint != leaf.Thumbprint)
            {
                intermediates.Add(c);
            }
        }

        var context = SslStreamCertificateContext.Create(leaf, intermediates, offline: true);
        return new Loaded(leaf, context, stamp);
    }

    private static (DateTime, DateTime, long, long) Stamp(string certificatePath, string keyPath)
    {
        var c = new FileInfo(certificatePath);
        var k = new FileInfo(keyPath);
        return (c.Exists ? c.LastWriteTimeUtc : default, k.Exists ? k.LastWriteTimeUtc : default, c.Exists ? c.Length : -1, k.Exists ? k.Length : -1);
    }

    private sealed record Loaded(X509Certificate2 Leaf, SslStreamCertificateContext Context, (DateTime, DateTime, long, long) Stamp);
}
