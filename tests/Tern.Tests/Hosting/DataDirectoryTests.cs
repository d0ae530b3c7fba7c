using System.Security.Cryptography.X509Certificates;
using Tern.Hosting;

namespace Tern.Tests.Hosting;

public sealed class DataDirectoryTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("tern-data-").FullName;

    public void Dispose() => Directory.Delete(_root, true);

    [Fact]
    public void Created_private_and_locked_against_a_second_process()
    {
        var path = Path.Combine(_root, "data");
        using (var first = DataDirectory.Open(path))
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(path));
            var e = Assert.Throws<InvalidOperationException>(() => DataDirectory.Open(path));
            Assert.Contains("in use by another Tern process", e.Message, StringComparison.Ordinal);
        }

        // Released on dispose.
        using var again = DataDirectory.Open(path);
        Assert.Equal(path, again.Path);
    }

    [Fact]
    public void Unwritable_location_is_a_clear_error()
    {
        var file = Path.Combine(_root, "plainfile");
        File.WriteAllText(file, "x");
        var e = Assert.Throws<InvalidOperationException>(() => DataDirectory.Open(Path.Combine(file, "data")));
        Assert.Contains("cannot create data directory", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Self_signed_certificate_is_generated_once_with_a_private_key()
    {
        var dir = Path.Combine(_root, "tls");
        var (cert, key, created) = SelfSignedCertificate.Ensure(dir, "mx.example.test");
        Assert.True(created);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));

        using var x509 = X509Certificate2.CreateFromPemFile(cert, key);
        Assert.True(x509.HasPrivateKey);
        Assert.Equal("CN=mx.example.test", x509.Subject);
        Assert.True(x509.MatchesHostname("mx.example.test"));
        Assert.True(x509.MatchesHostname("localhost"));
        Assert.True(x509.NotAfter > DateTime.UtcNow.AddYears(9));

        var before = File.ReadAllText(cert);
        var second = SelfSignedCertificate.Ensure(dir, "mx.example.test");
        Assert.False(second.Created);
        Assert.Equal(before, File.ReadAllText(cert));
    }
}
