using Tern.Sasl.Credentials;
using Tern.Sasl.CramMd5;

namespace Tern.Sasl.Tests;

public sealed class CramMd5Tests : IDisposable
{
    // RFC 2195 section 2, the example exchange.
    private const string RfcChallenge = "<1896.697170952@postoffice.reston.mci.net>";
    private const string RfcResponse = "tim b913a602c7eda7a495b4e6e7334d3890";
    private readonly TempStore _store = new();

    public CramMd5Tests() => _store.Store.Add("tim", "tanstaaftanstaaf", new AccountOptions { CramMd5 = true });

    public void Dispose() => _store.Dispose();

    private static CramMd5Server RfcServer(AccountStore store) => new(store, "postoffice.reston.mci.net", RfcChallenge);

    [Fact]
    public void Server_accepts_the_rfc_2195_example()
    {
        var server = RfcServer(_store.Store);

        Assert.Equal(RfcChallenge, Sasl.Text(server.Start().Challenge));
        var result = server.Step(Sasl.Utf8(RfcResponse));

        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal("tim", result.Username);
    }

    [Fact]
    public void Server_accepts_it_after_a_reload_from_disk()
    {
        var server = RfcServer(AccountStore.Open(_store.FilePath));
        server.Start();

        Assert.Equal(SaslStatus.Success, server.Step(Sasl.Utf8(RfcResponse.ToUpperInvariant().Replace("TIM", "tim", StringComparison.Ordinal))).Status);
    }

    [Fact]
    public void Client_produces_the_rfc_2195_example()
    {
        var client = SaslClientFactory.Create(SaslMechanisms.CramMd5, "tim", "tanstaaftanstaaf", SaslChannel.Plaintext, []);

        Assert.Null(client.Start().Response);
        Assert.Equal(RfcResponse, Sasl.Text(client.Step(Sasl.Utf8(RfcChallenge)).Response));
        Assert.Equal(SaslStatus.Success, client.Complete().Status);
    }

    [Fact]
    public void Failures()
    {
        SaslServerStep Answer(string response)
        {
            var server = RfcServer(_store.Store);
            server.Start();
            return server.Step(Sasl.Utf8(response));
        }

        Assert.Equal(SaslFailure.BadCredentials, Answer("tim b913a602c7eda7a495b4e6e7334d3891").Failure);
        Assert.Equal(SaslFailure.UnknownUser, Answer("tom b913a602c7eda7a495b4e6e7334d3890").Failure);
        Assert.Equal(SaslFailure.Malformed, Answer("tim b913a602c7eda7a495b4e6e7334d389").Failure);
        Assert.Equal(SaslFailure.Malformed, Answer("tim b913a602c7eda7a495b4e6e7334d38zz").Failure);
        Assert.Equal(SaslFailure.Malformed, Answer("timb913a602c7eda7a495b4e6e7334d3890").Failure);
        Assert.Equal(SaslFailure.Malformed, Answer(" b913a602c7eda7a495b4e6e7334d3890").Failure);
        Assert.Equal(SaslFailure.Malformed, Answer("").Failure);

        _store.Store.Add("nocram", "tanstaaftanstaaf");
        Assert.Equal(SaslFailure.NoCredentialsForMechanism, Answer("nocram b913a602c7eda7a495b4e6e7334d3890").Failure);
    }

    [Fact]
    public void Initial_response_is_refused_because_the_server_speaks_first()
    {
        var server = new CramMd5Server(_store.Store, "localhost");

        Assert.Equal(SaslFailure.Malformed, server.Step(Sasl.Utf8(RfcResponse)).Failure);
    }

    [Fact]
    public void Challenges_are_unique_msg_ids()
    {
        var options = new SaslServerOptions { Mechanisms = [SaslMechanisms.CramMd5], Hostname = "mx.example.org" };
        var first = Sasl.Text(Sasl.Server(_store.Store, SaslMechanisms.CramMd5, SaslChannel.Plaintext, options).Start().Challenge);
        var second = Sasl.Text(Sasl.Server(_store.Store, SaslMechanisms.CramMd5, SaslChannel.Plaintext, options).Start().Challenge);

        Assert.Matches("^<[0-9]+\\.[0-9]+@mx\\.example\\.org>$", first);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Client_round_trip_with_right_and_wrong_password()
    {
        var (ok, client) = Sasl.Authenticate(_store.Store, SaslMechanisms.CramMd5, SaslChannel.Plaintext, SaslChannel.Plaintext, "tim", "tanstaaftanstaaf");
        Assert.Equal(SaslStatus.Success, ok.Status);
        Assert.Equal(SaslStatus.Success, client?.Status);

        var (bad, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.CramMd5, SaslChannel.Plaintext, SaslChannel.Plaintext, "tim", "tanstaaftanstaafX");
        Assert.Equal(SaslFailure.BadCredentials, bad.Failure);
    }

    [Fact]
    public void Store_keeps_no_cram_states_unless_enabled_and_never_the_password()
    {
        _store.Store.Add("plainuser", "tanstaaftanstaaf");
        Assert.True(_store.Store.TryGet("tim", out var tim));
        Assert.True(tim.CramMd5Enabled);
        Assert.True(_store.Store.TryGet("plainuser", out var other));
        Assert.False(other.CramMd5Enabled);

        var json = File.ReadAllText(_store.FilePath);
        Assert.DoesNotContain("tanstaaf", json, StringComparison.Ordinal);
        Assert.Equal(1, CountOccurrences(json, "\"cram_md5\""));
    }

    private static int CountOccurrences(string text, string value) => (text.Length - text.Replace(value, "", StringComparison.Ordinal).Length) / value.Length;
}
