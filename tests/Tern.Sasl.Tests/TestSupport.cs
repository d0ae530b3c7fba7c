using System.Security.Authentication;
using System.Text;
using Tern.Sasl.ChannelBindings;
using Tern.Sasl.Credentials;

namespace Tern.Sasl.Tests;

/// <summary>An account store in a fresh temporary directory.</summary>
internal sealed class TempStore : IDisposable
{
    public TempStore()
    {
        DirectoryPath = Directory.CreateTempSubdirectory("tern-sasl-").FullName;
        FilePath = Path.Combine(DirectoryPath, "accounts.json");
        Store = AccountStore.Open(FilePath);
    }

    public string DirectoryPath { get; }

    public string FilePath { get; }

    public AccountStore Store { get; }

    public void Dispose() => Directory.Delete(DirectoryPath, recursive: true);
}

internal static class Sasl
{
    public const string User = "alice@example.org";
    public const string Password = "correct horse battery staple";

    public static ChannelBinding UniqueBinding(byte fill = 0x42) => ChannelBinding.TlsUnique(Enumerable.Repeat(fill, 12).ToArray(), SslProtocols.Tls12);

    public static SaslChannel TlsWithBinding(byte fill = 0x42) => SaslChannel.Tls(UniqueBinding(fill));

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static string Text(byte[]? bytes) => bytes is null ? "<null>" : Encoding.UTF8.GetString(bytes);

    public static SaslServer Server(AccountStore store, string mechanism, SaslChannel channel, SaslServerOptions? options = null)
    {
        var factory = new SaslServerFactory(store, options ?? AllMechanisms);
        Assert.True(factory.TryCreate(mechanism, channel, out var server));
        return server;
    }

    public static SaslServerOptions AllMechanisms { get; } = new() { Mechanisms = SaslMechanisms.All };

    /// <summary>Runs a client against a server the way the SMTP layer does; returns both final steps.</summary>
    public static (SaslServerStep Server, SaslClientStep? Client) Run(SaslClient client, SaslServer server)
    {
        var start = client.Start();
        Assert.Equal(SaslStatus.Continue, start.Status);
        var step = start.Response is null ? server.Start() : server.Step(start.Response);
        var rounds = 0;
        while (step.Status == SaslStatus.Continue)
        {
            Assert.True(++rounds < 10, "the exchange does not end");
            var answer = client.Step(step.Challenge);
            if (answer.Status != SaslStatus.Continue)
            {
                return (server.Abort(), answer);
            }

            step = server.Step(answer.Response);
        }

        return step.Status == SaslStatus.Success ? (step, client.Complete()) : (step, null);
    }

    /// <summary>Client and server for one mechanism over one channel, with the server advertising what the factory advertises.</summary>
    public static (SaslServerStep Server, SaslClientStep? Client) Authenticate(AccountStore store, string mechanism, SaslChannel serverChannel, SaslChannel clientChannel, string user, string password, string? authorizationIdentity = null, SaslServerOptions? options = null)
    {
        var factory = new SaslServerFactory(store, options ?? AllMechanisms);
        var advertised = factory.Advertised(serverChannel);
        Assert.True(factory.TryCreate(mechanism, serverChannel, out var server));
        var client = SaslClientFactory.Create(mechanism, user, password, clientChannel, advertised, authorizationIdentity);
        return Run(client, server);
    }
}
