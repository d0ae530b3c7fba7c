using System.Text.RegularExpressions;
using Tern.Sasl.ChannelBindings;
using Tern.Sasl.Credentials;
using Tern.Sasl.Scram;

namespace Tern.Sasl.Tests;

public sealed partial class ScramTests : IDisposable
{
    private readonly TempStore _store = new();

    public ScramTests() => _store.Store.Add(Sasl.User, Sasl.Password);

    public void Dispose() => _store.Dispose();

    public static TheoryData<string> Plain => [SaslMechanisms.ScramSha1, SaslMechanisms.ScramSha256];

    public static TheoryData<string> Plus => [SaslMechanisms.ScramSha1Plus, SaslMechanisms.ScramSha256Plus];

    [Theory]
    [MemberData(nameof(Plain))]
    public void Round_trip_without_tls(string mechanism)
    {
        var (server, client) = Sasl.Authenticate(_store.Store, mechanism, SaslChannel.Plaintext, SaslChannel.Plaintext, Sasl.User, Sasl.Password);

        Assert.Equal(SaslStatus.Success, server.Status);
        Assert.Equal(Sasl.User, server.Username);
        Assert.Equal(SaslStatus.Success, client?.Status);
    }

    [Theory]
    [MemberData(nameof(Plus))]
    public void Round_trip_with_channel_binding(string mechanism)
    {
        var channel = Sasl.TlsWithBinding();

        var (server, client) = Sasl.Authenticate(_store.Store, mechanism, channel, channel, Sasl.User, Sasl.Password);

        Assert.Equal(SaslStatus.Success, server.Status);
        Assert.Equal(SaslStatus.Success, client?.Status);
    }

    [Theory]
    [InlineData(SaslMechanisms.ScramSha1)]
    [InlineData(SaslMechanisms.ScramSha256)]
    [InlineData(SaslMechanisms.ScramSha1Plus)]
    [InlineData(SaslMechanisms.ScramSha256Plus)]
    public void Wrong_password_fails(string mechanism)
    {
        var channel = Sasl.TlsWithBinding();

        var (server, client) = Sasl.Authenticate(_store.Store, mechanism, channel, channel, Sasl.User, "wrong");

        Assert.Equal(SaslFailure.BadCredentials, server.Failure);
        Assert.Null(client);
    }

    [Fact]
    public void Unknown_user_fails_at_the_proof_with_parameters_that_look_real_and_stay_stable()
    {
        string ServerFirst(string user)
        {
            var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
            var text = Sasl.Text(server.Step(Sasl.Utf8($"n,,n={user},r=clientnonce")).Challenge);
            return text[text.IndexOf(",s=", StringComparison.Ordinal)..];
        }

        var known = ServerFirst(Sasl.User);
        var unknown = ServerFirst("mallory@example.org");
        Assert.Matches(SaltAndIterations(), known);
        Assert.Matches(SaltAndIterations(), unknown);
        Assert.Equal(unknown, ServerFirst("mallory@example.org"));
        Assert.NotEqual(unknown, ServerFirst("eve@example.org"));

        // The fake salt survives a restart (it comes from the store's persisted secret).
        var reopened = AccountStore.Open(_store.FilePath);
        var again = new SaslServerFactory(reopened, Sasl.AllMechanisms);
        Assert.True(again.TryCreate(SaslMechanisms.ScramSha256, SaslChannel.Plaintext, out var restarted));
        var afterRestart = Sasl.Text(restarted.Step(Sasl.Utf8("n,,n=mallory@example.org,r=clientnonce")).Challenge);
        Assert.EndsWith(unknown, afterRestart, StringComparison.Ordinal);

        var (result, client) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext, SaslChannel.Plaintext, "mallory@example.org", "whatever");
        Assert.Equal(SaslFailure.UnknownUser, result.Failure);
        Assert.Null(client);
    }

    [Fact]
    public void Names_with_comma_and_equals_are_escaped_on_the_wire()
    {
        const string name = "a,b=c";
        _store.Store.Add(name, Sasl.Password);
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, name, Sasl.Password, SaslChannel.Plaintext, []);
        var first = client.Start();
        Assert.StartsWith("n,,n=a=2Cb=3Dc,r=", Sasl.Text(first.Response), StringComparison.Ordinal);

        var (server, _) = Sasl.Run(SaslClientFactory.Create(SaslMechanisms.ScramSha256, name, Sasl.Password, SaslChannel.Plaintext, []), Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext));
        Assert.Equal(SaslStatus.Success, server.Status);
        Assert.Equal(name, server.Username);
    }

    [Fact]
    public void Authorization_identity_must_be_the_user()
    {
        var (same, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext, SaslChannel.Plaintext, Sasl.User, Sasl.Password, authorizationIdentity: Sasl.User);
        Assert.Equal(SaslStatus.Success, same.Status);

        var (other, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext, SaslChannel.Plaintext, Sasl.User, Sasl.Password, authorizationIdentity: "postmaster");
        Assert.Equal(SaslFailure.AuthorizationDenied, other.Failure);
    }

    [Theory]
    [MemberData(nameof(Plus))]
    public void Channel_binding_data_of_another_connection_is_a_mismatch(string mechanism)
    {
        // A man in the middle terminates TLS: the client sees a different connection than the server.
        var (server, _) = Sasl.Authenticate(_store.Store, mechanism, Sasl.TlsWithBinding(0x01), Sasl.TlsWithBinding(0x02), Sasl.User, Sasl.Password);

        Assert.Equal(SaslFailure.ChannelBindingMismatch, server.Failure);
    }

    [Fact]
    public void Channel_binding_type_other_than_the_servers_is_unsupported()
    {
        using var key = System.Security.Cryptography.ECDsa.Create();
        using var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=x", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        Assert.True(ChannelBinding.TryTlsServerEndPoint(certificate, out var endPoint));

        var (server, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256Plus, Sasl.TlsWithBinding(), SaslChannel.Tls(endPoint), Sasl.User, Sasl.Password);

        Assert.Equal(SaslFailure.ChannelBindingUnsupported, server.Failure);
    }

    [Theory]
    [MemberData(nameof(Plus))]
    public void Plus_without_tls_is_refused_as_encryption_required(string mechanism)
    {
        var server = Sasl.Server(_store.Store, mechanism, SaslChannel.Plaintext);

        Assert.Equal(SaslFailure.EncryptionRequired, server.Start().Failure);
        Assert.Equal(SaslFailure.EncryptionRequired, Sasl.Server(_store.Store, mechanism, SaslChannel.Plaintext).Step(Sasl.Utf8("p=tls-unique,,n=x,r=abc")).Failure);
    }

    [Fact]
    public void Plus_on_tls_without_a_binding_is_unsupported_and_not_advertised()
    {
        var channel = SaslChannel.Tls(null);
        var factory = new SaslServerFactory(_store.Store, Sasl.AllMechanisms);

        Assert.DoesNotContain(SaslMechanisms.ScramSha256Plus, factory.Advertised(channel));
        Assert.Equal(SaslFailure.ChannelBindingUnsupported, Sasl.Server(_store.Store, SaslMechanisms.ScramSha256Plus, channel).Start().Failure);
    }

    [Theory]
    [InlineData("n")]
    [InlineData("y")]
    public void Plus_mechanism_without_binding_flag_requires_binding(string flag)
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256Plus, Sasl.TlsWithBinding());

        Assert.Equal(SaslFailure.ChannelBindingRequired, server.Step(Sasl.Utf8($"{flag},,n={Sasl.User},r=abcdef")).Failure);
    }

    [Fact]
    public void Client_flag_y_to_a_server_offering_plus_is_a_downgrade()
    {
        // The client can bind but was shown no -PLUS mechanism (stripped by an attacker), so it says "y".
        var channel = Sasl.TlsWithBinding();
        var factory = new SaslServerFactory(_store.Store, Sasl.AllMechanisms);
        Assert.Contains(SaslMechanisms.ScramSha256Plus, factory.Advertised(channel));
        var stripped = factory.Advertised(channel).Where(m => !SaslMechanisms.IsPlus(m)).ToList();
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, Sasl.User, Sasl.Password, channel, stripped);
        Assert.True(factory.TryCreate(SaslMechanisms.ScramSha256, channel, out var server));

        var (result, _) = Sasl.Run(client, server);

        Assert.Equal(SaslFailure.Downgrade, result.Failure);
    }

    [Fact]
    public void Client_flag_y_is_fine_when_the_server_offers_no_plus()
    {
        var clientChannel = Sasl.TlsWithBinding();

        // Server on TLS without a binding: no -PLUS offered.
        var (noBinding, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Tls(null), clientChannel, Sasl.User, Sasl.Password);
        Assert.Equal(SaslStatus.Success, noBinding.Status);

        // Server with a binding but -PLUS not enabled.
        var options = new SaslServerOptions { Mechanisms = [SaslMechanisms.ScramSha256] };
        var (notEnabled, _) = Sasl.Authenticate(_store.Store, SaslMechanisms.ScramSha256, Sasl.TlsWithBinding(), clientChannel, Sasl.User, Sasl.Password, options: options);
        Assert.Equal(SaslStatus.Success, notEnabled.Status);
    }

    [Theory]
    [InlineData(SaslMechanisms.ScramSha1)]
    [InlineData(SaslMechanisms.ScramSha256)]
    public void Client_flag_p_to_a_plain_mechanism_is_unsupported(string mechanism)
    {
        var server = Sasl.Server(_store.Store, mechanism, Sasl.TlsWithBinding());

        Assert.Equal(SaslFailure.ChannelBindingUnsupported, server.Step(Sasl.Utf8($"p=tls-unique,,n={Sasl.User},r=abcdef")).Failure);
        Assert.Equal(SaslFailure.ChannelBindingUnsupported, Sasl.Server(_store.Store, mechanism, SaslChannel.Plaintext).Step(Sasl.Utf8("p=tls-unique,,n=x,r=abcdef")).Failure);
    }

    [Fact]
    public void Client_chooses_its_gs2_flag_from_tls_and_what_the_server_offers()
    {
        string Flag(string mechanism, SaslChannel channel, params string[] offered) =>
            Sasl.Text(SaslClientFactory.Create(mechanism, "u", "p", channel, offered).Start().Response).Split(',')[0];

        Assert.Equal("n", Flag(SaslMechanisms.ScramSha256, SaslChannel.Plaintext, SaslMechanisms.ScramSha256));
        Assert.Equal("n", Flag(SaslMechanisms.ScramSha256, SaslChannel.Tls(null), SaslMechanisms.ScramSha256));
        Assert.Equal("y", Flag(SaslMechanisms.ScramSha256, Sasl.TlsWithBinding(), SaslMechanisms.ScramSha256));
        Assert.Equal("n", Flag(SaslMechanisms.ScramSha256, Sasl.TlsWithBinding(), SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha256Plus));
        Assert.Equal("p=tls-unique", Flag(SaslMechanisms.ScramSha256Plus, Sasl.TlsWithBinding(), SaslMechanisms.ScramSha256Plus));
        Assert.Throws<ArgumentException>(() => SaslClientFactory.Create(SaslMechanisms.ScramSha256Plus, "u", "p", SaslChannel.Tls(null), [SaslMechanisms.ScramSha256Plus]));
    }

    [Theory]
    [InlineData("")]
    [InlineData("n")]
    [InlineData("n,,")]
    [InlineData("n,,n=user")]
    [InlineData("n,,n=user,")]
    [InlineData("n,,r=abcdef,n=user")]
    [InlineData("x,,n=user,r=abcdef")]
    [InlineData("n,n=user,r=abcdef")]
    [InlineData("n,,m=ext,n=user,r=abcdef")]
    [InlineData("n,,n=us=2Xer,r=abcdef")]
    [InlineData("n,,n=user=,r=abcdef")]
    [InlineData("n,,n=,r=abcdef")]
    [InlineData("n,,n=user,r=")]
    [InlineData("n,,n=user,r=abc def")]
    [InlineData("n,,n=user,r=abcdef,1=x")]
    [InlineData("n,,n=user,r=abcdef,p=x")]
    [InlineData("n,,n=user,r=abcdef,m=x")]
    [InlineData("n,,n=user,r=abcdef,x")]
    [InlineData("n,a=,n=user,r=abcdef")]
    [InlineData("n,a=x=,n=user,r=abcdef")]
    [InlineData("p=,,n=user,r=abcdef")]
    [InlineData("p=tls_unique,,n=user,r=abcdef")]
    [InlineData("n,,n=us\0er,r=abcdef")]
    public void Malformed_client_first_is_a_failure_value(string message)
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);

        var result = server.Step(Sasl.Utf8(message));

        Assert.Equal(SaslStatus.Failure, result.Status);
        Assert.Equal(SaslFailure.Malformed, result.Failure);
    }

    [Fact]
    public void Client_first_that_is_not_utf8_or_too_long_is_malformed()
    {
        Assert.Equal(SaslFailure.Malformed, Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext).Step([.. "n,,n=u"u8, 0xff, 0xfe, .. ",r=abcdef"u8]).Failure);
        var huge = "n,,n=user,r=" + new string('a', SaslServer.MaxResponseLength);
        Assert.Equal(SaslFailure.Malformed, Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext).Step(Sasl.Utf8(huge)).Failure);
        var longNonce = "n,,n=user,r=" + new string('a', ScramMessages.MaxNonceLength + 1);
        Assert.Equal(SaslFailure.Malformed, Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext).Step(Sasl.Utf8(longNonce)).Failure);
    }

    [Fact]
    public void Optional_extensions_are_ignored()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);

        Assert.Equal(SaslStatus.Continue, server.Step(Sasl.Utf8($"n,,n={Sasl.User},r=abcdef,x=future")).Status);
    }

    public static TheoryData<string> MalformedFinals => new()
    {
        "c=biws,r={nonce}",                 // no proof
        "c=biws,r={nonce},p=",              // empty proof
        "c=biws,r=",                        // truncated
        "c=biws",
        "r={nonce},c=biws,p={proof}",       // wrong order
        "c=biws,p={proof},r={nonce}",
        "c=biws,r={nonce},p=!!!!{proof}",   // bad base64
        "c=biws,r={nonce},p={proof} ",      // whitespace inside base64
        "c=biws,r={nonce},p=AAAA",          // proof of the wrong length
        "c=biws,r={nonce}X,p={proof}",      // nonce changed
        "c=biws,r=other,p={proof}",
        "c=biws,r={nonce},p={proof},x=1",   // proof not last
        "c=biws,r={nonce},p={proof},p={proof}",
        "c=bi ws,r={nonce},p={proof}",
        "c=,r={nonce},p={proof}",
        "c=biws,r={nonce},m=x,p={proof}",
        "",
    };

    [Theory]
    [MemberData(nameof(MalformedFinals))]
    public void Malformed_client_final_is_a_failure_value(string template)
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var first = Sasl.Text(server.Step(Sasl.Utf8($"n,,n={Sasl.User},r=abcdef")).Challenge);
        var nonce = first.Split(',')[0][2..];
        var message = template.Replace("{nonce}", nonce, StringComparison.Ordinal).Replace("{proof}", Convert.ToBase64String(new byte[32]), StringComparison.Ordinal);

        var result = server.Step(Sasl.Utf8(message));

        Assert.Equal(SaslStatus.Failure, result.Status);
        Assert.Equal(SaslFailure.Malformed, result.Failure);
    }

    [Fact]
    public void Client_final_repeating_another_gs2_header_is_a_binding_mismatch()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var nonce = Sasl.Text(server.Step(Sasl.Utf8($"n,,n={Sasl.User},r=abcdef")).Challenge).Split(',')[0][2..];

        // "eSws" is base64("y,,"): the header the client sent was "n,,".
        var result = server.Step(Sasl.Utf8($"c=eSws,r={nonce},p={Convert.ToBase64String(new byte[32])}"));

        Assert.Equal(SaslFailure.ChannelBindingMismatch, result.Failure);
    }

    [Fact]
    public void Server_final_must_be_acknowledged_with_an_empty_message()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, Sasl.User, Sasl.Password, SaslChannel.Plaintext, []);
        var serverFirst = server.Step(client.Start().Response);
        var serverFinal = server.Step(client.Step(serverFirst.Challenge).Response);
        Assert.Equal(SaslStatus.Continue, serverFinal.Status);

        Assert.Equal(SaslFailure.Malformed, server.Step("junk"u8).Failure);
        Assert.Throws<InvalidOperationException>(() => server.Step([]));
    }

    public static TheoryData<string, SaslFailure> BadServerFirsts => new()
    {
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=4095", SaslFailure.IterationCountOutOfRange },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=1000001", SaslFailure.IterationCountOutOfRange },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=99999999999999999999999", SaslFailure.IterationCountOutOfRange },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=1", SaslFailure.IterationCountOutOfRange },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=0", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=04096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=-4096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=4096x", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=", SaslFailure.Malformed },
        { "r=someone-elses-nonce,s=QSXCR+Q6sek8bf92,i=4096", SaslFailure.Malformed },
        { "r={cnonce},s=QSXCR+Q6sek8bf92,i=4096", SaslFailure.Malformed },
        { "r=X{cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=4096", SaslFailure.Malformed },
        { "r={cnonce}" + new string('x', 300) + ",s=QSXCR+Q6sek8bf92,i=4096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=not base64!,i=4096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=,i=4096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,i=4096,s=QSXCR+Q6sek8bf92", SaslFailure.Malformed },
        { "s=QSXCR+Q6sek8bf92,r={cnonce}SERVER,i=4096", SaslFailure.Malformed },
        { "m=ext,r={cnonce}SERVER,s=QSXCR+Q6sek8bf92,i=4096", SaslFailure.Malformed },
        { "r={cnonce}SERVER,s=QSXCR+Q6sek8bf92", SaslFailure.Malformed },
        { "r={cnonce}SERVER", SaslFailure.Malformed },
        { "", SaslFailure.Malformed },
        { "e=other-error", SaslFailure.ServerError },
    };

    [Theory]
    [MemberData(nameof(BadServerFirsts))]
    public void Client_refuses_bad_server_first_messages(string template, SaslFailure expected)
    {
        const string clientNonce = "fyko+d2lbbFgONRv9qkxdawL";
        var client = new ScramClient(ScramAlgorithm.Sha256, plus: false, "user", "pencil", null, null, serverOffersPlus: false, clientNonce: clientNonce);
        client.Start();

        var result = client.Step(Sasl.Utf8(template.Replace("{cnonce}", clientNonce, StringComparison.Ordinal)));

        Assert.Equal(SaslStatus.Failure, result.Status);
        Assert.Equal(expected, result.Failure);
    }

    [Theory]
    [InlineData("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=", SaslFailure.BadServerSignature)]
    [InlineData("v=AAAA", SaslFailure.BadServerSignature)]
    [InlineData("v=", SaslFailure.BadServerSignature)]
    [InlineData("v=!!", SaslFailure.Malformed)]
    [InlineData("x=1", SaslFailure.Malformed)]
    [InlineData("", SaslFailure.Malformed)]
    [InlineData("e=invalid-proof", SaslFailure.ServerError)]
    public void Client_refuses_a_wrong_server_signature(string serverFinal, SaslFailure expected)
    {
        // A server that does not know the password (here: the SHA-1 example's signature on a SHA-256 exchange).
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, Sasl.User, Sasl.Password, SaslChannel.Plaintext, []);
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var first = server.Step(client.Start().Response);
        server.Step(client.Step(first.Challenge).Response);

        var result = client.Step(Sasl.Utf8(serverFinal));

        Assert.Equal(expected, result.Failure);
    }

    [Fact]
    public void Client_refuses_success_without_the_server_signature()
    {
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, Sasl.User, Sasl.Password, SaslChannel.Plaintext, []);
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var first = server.Step(client.Start().Response);
        client.Step(first.Challenge);

        // The server says 235 straight after the client's proof.
        Assert.Equal(SaslFailure.BadServerSignature, client.Complete().Failure);
    }

    [Fact]
    public void Client_accepts_the_server_signature_as_additional_data_with_success()
    {
        var client = SaslClientFactory.Create(SaslMechanisms.ScramSha256, Sasl.User, Sasl.Password, SaslChannel.Plaintext, []);
        var server = Sasl.Server(_store.Store, SaslMechanisms.ScramSha256, SaslChannel.Plaintext);
        var first = server.Step(client.Start().Response);
        var final = server.Step(client.Step(first.Challenge).Response);

        Assert.Equal(SaslStatus.Success, client.Complete(final.Challenge).Status);
    }

    [GeneratedRegex("^,s=[A-Za-z0-9+/]{22}==,i=4096$")]
    private static partial Regex SaltAndIterations();
}
