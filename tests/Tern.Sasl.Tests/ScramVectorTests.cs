using Tern.Sasl.Credentials;
using Tern.Sasl.Scram;

namespace Tern.Sasl.Tests;

/// <summary>The examples of RFC 5802 section 5 (SCRAM-SHA-1) and RFC 7677 section 3 (SCRAM-SHA-256), byte for byte, both sides.</summary>
public sealed class ScramVectorTests : IDisposable
{
    private readonly TempStore _store = new();

    public void Dispose() => _store.Dispose();

    public static TheoryData<string> Variants => ["SHA-1", "SHA-256"];

    private sealed record Vector(
        ScramAlgorithm Algorithm,
        string ClientNonce,
        string ServerNonce,
        string Salt,
        string ClientFirst,
        string ServerFirst,
        string ClientFinal,
        string ServerFinal);

    private static Vector Get(string variant) => variant == "SHA-1"
        ? new Vector(
            ScramAlgorithm.Sha1,
            "fyko+d2lbbFgONRv9qkxdawL",
            "3rfcNHYJY1ZVvWVs7j",
            "QSXCR+Q6sek8bf92",
            "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")
        : new Vector(
            ScramAlgorithm.Sha256,
            "rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            "W22ZaJ0SNY7soEsUEjb6gQ==",
            "n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

    [Theory]
    [MemberData(nameof(Variants))]
    public void Client_sends_the_rfc_messages_and_accepts_the_rfc_server_signature(string variant)
    {
        var v = Get(variant);
        var client = new ScramClient(v.Algorithm, plus: false, "user", "pencil", null, binding: null, serverOffersPlus: false, clientNonce: v.ClientNonce);

        Assert.Equal(v.ClientFirst, Sasl.Text(client.Start().Response));
        var final = client.Step(Sasl.Utf8(v.ServerFirst));
        Assert.Equal(SaslStatus.Continue, final.Status);
        Assert.Equal(v.ClientFinal, Sasl.Text(final.Response));
        var ack = client.Step(Sasl.Utf8(v.ServerFinal));
        Assert.Equal(SaslStatus.Continue, ack.Status);
        Assert.Empty(ack.Response!);
        Assert.Equal(SaslStatus.Success, client.Complete().Status);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Server_sends_the_rfc_messages_and_accepts_the_rfc_proof(string variant)
    {
        var v = Get(variant);
        PutRfcUser(v, "pencil");
        var server = new ScramServer(v.Algorithm, _store.Store, binding: null, offersPlus: false, fixedServerNonce: v.ServerNonce);

        var first = server.Step(Sasl.Utf8(v.ClientFirst));
        Assert.Equal(SaslStatus.Continue, first.Status);
        Assert.Equal(v.ServerFirst, Sasl.Text(first.Challenge));
        var final = server.Step(Sasl.Utf8(v.ClientFinal));
        Assert.Equal(SaslStatus.Continue, final.Status);
        Assert.Equal(v.ServerFinal, Sasl.Text(final.Challenge));
        var done = server.Step([]);
        Assert.Equal(SaslStatus.Success, done.Status);
        Assert.Equal("user", done.Username);
        Assert.Equal("user", done.AuthorizationIdentity);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Server_accepts_the_rfc_client_end_to_end(string variant)
    {
        var v = Get(variant);
        PutRfcUser(v, "pencil");
        var server = new ScramServer(v.Algorithm, _store.Store, binding: null, offersPlus: false, fixedServerNonce: v.ServerNonce);
        var client = new ScramClient(v.Algorithm, plus: false, "user", "pencil", null, binding: null, serverOffersPlus: false, clientNonce: v.ClientNonce);

        var (serverResult, clientResult) = Sasl.Run(client, server);

        Assert.Equal(SaslStatus.Success, serverResult.Status);
        Assert.Equal(SaslStatus.Success, clientResult?.Status);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Server_rejects_the_rfc_proof_for_another_password(string variant)
    {
        var v = Get(variant);
        PutRfcUser(v, "pencil2");
        var server = new ScramServer(v.Algorithm, _store.Store, binding: null, offersPlus: false, fixedServerNonce: v.ServerNonce);

        server.Step(Sasl.Utf8(v.ClientFirst));
        var result = server.Step(Sasl.Utf8(v.ClientFinal));

        Assert.Equal(SaslStatus.Failure, result.Status);
        Assert.Equal(SaslFailure.BadCredentials, result.Failure);
    }

    private void PutRfcUser(Vector v, string password)
    {
        // The RFC examples use the same salt for the one hash they show; the other hash gets a random one.
        var salt = Convert.FromBase64String(v.Salt);
        var passwordBytes = Sasl.Utf8(password);
        var mine = ScramCredential.Derive(v.Algorithm, passwordBytes, salt, 4096);
        var otherAlgorithm = v.Algorithm == ScramAlgorithm.Sha1 ? ScramAlgorithm.Sha256 : ScramAlgorithm.Sha1;
        var other = ScramCredential.Derive(otherAlgorithm, passwordBytes, System.Security.Cryptography.RandomNumberGenerator.GetBytes(16), 4096);
        var (sha1, sha256) = v.Algorithm == ScramAlgorithm.Sha1 ? (mine, other) : (other, mine);
        _store.Store.Put(new Account("user", sha1, sha256, null, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch));
    }
}
