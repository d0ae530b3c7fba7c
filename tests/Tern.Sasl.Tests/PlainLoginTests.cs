namespace Tern.Sasl.Tests;

public sealed class PlainLoginTests : IDisposable
{
    private static readonly SaslChannel Tls = SaslChannel.Tls(null);
    private readonly TempStore _store = new();

    public PlainLoginTests() => _store.Store.Add(Sasl.User, Sasl.Password);

    public void Dispose() => _store.Dispose();

    private SaslServerStep Plain(string message) => Sasl.Server(_store.Store, SaslMechanisms.Plain, Tls).Step(Sasl.Utf8(message));

    [Fact]
    public void Plain_without_authorization_identity()
    {
        var result = Plain($"\0{Sasl.User}\0{Sasl.Password}");

        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal(Sasl.User, result.Username);
        Assert.Equal(Sasl.User, result.AuthorizationIdentity);
    }

    [Fact]
    public void Plain_with_authorization_identity_of_the_user_itself()
    {
        var result = Plain($"{Sasl.User}\0{Sasl.User}\0{Sasl.Password}");

        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal(Sasl.User, result.AuthorizationIdentity);
    }

    [Fact]
    public void Plain_acting_as_someone_else_is_denied()
    {
        Assert.Equal(SaslFailure.AuthorizationDenied, Plain($"postmaster\0{Sasl.User}\0{Sasl.Password}").Failure);
    }

    [Fact]
    public void Plain_with_a_wrong_password_or_user()
    {
        Assert.Equal(SaslFailure.BadCredentials, Plain($"\0{Sasl.User}\0wrong").Failure);
        Assert.Equal(SaslFailure.BadCredentials, Plain($"\0{Sasl.User}\0{Sasl.Password} ").Failure);
        Assert.Equal(SaslFailure.UnknownUser, Plain($"\0nobody\0{Sasl.Password}").Failure);

        // Usernames are case-sensitive.
        Assert.Equal(SaslFailure.UnknownUser, Plain($"\0{Sasl.User.ToUpperInvariant()}\0{Sasl.Password}").Failure);
    }

    [Theory]
    [InlineData("")]
    [InlineData("alice")]
    [InlineData("\0alice")]
    [InlineData("\0\0secret")]
    [InlineData("\0alice\0")]
    [InlineData("\0alice\0pass\0word")]
    public void Plain_malformed(string message)
    {
        Assert.Equal(SaslFailure.Malformed, Plain(message).Failure);
    }

    [Fact]
    public void Plain_invalid_utf8_name_is_malformed()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.Plain, Tls);

        Assert.Equal(SaslFailure.Malformed, server.Step([0, 0xc3, 0x28, 0, (byte)'x']).Failure);
    }

    [Fact]
    public void Plain_without_initial_response_gets_an_empty_challenge()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.Plain, Tls);

        var start = server.Start();

        Assert.Equal(SaslStatus.Continue, start.Status);
        Assert.Empty(start.Challenge!);
        Assert.Equal(SaslStatus.Success, server.Step(Sasl.Utf8($"\0{Sasl.User}\0{Sasl.Password}")).Status);
    }

    [Theory]
    [InlineData(SaslMechanisms.Plain)]
    [InlineData(SaslMechanisms.Login)]
    public void Password_mechanisms_need_tls_unless_allowed(string mechanism)
    {
        var factory = new SaslServerFactory(_store.Store, Sasl.AllMechanisms);
        Assert.DoesNotContain(mechanism, factory.Advertised(SaslChannel.Plaintext));
        Assert.Contains(mechanism, factory.Advertised(Tls));
        Assert.True(factory.TryCreate(mechanism, SaslChannel.Plaintext, out var refused));
        Assert.Equal(SaslFailure.EncryptionRequired, refused.Start().Failure);

        var allowed = new SaslServerOptions { Mechanisms = SaslMechanisms.All, AllowPasswordMechanismsWithoutTls = true };
        var (result, client) = Sasl.Authenticate(_store.Store, mechanism, SaslChannel.Plaintext, SaslChannel.Plaintext, Sasl.User, Sasl.Password, options: allowed);
        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal(SaslStatus.Success, client?.Status);
    }

    [Theory]
    [InlineData(SaslMechanisms.Plain, null)]
    [InlineData(SaslMechanisms.Plain, Sasl.User)]
    [InlineData(SaslMechanisms.Login, null)]
    public void Client_round_trip(string mechanism, string? authorizationIdentity)
    {
        var (ok, okClient) = Sasl.Authenticate(_store.Store, mechanism, Tls, Tls, Sasl.User, Sasl.Password, authorizationIdentity);
        Assert.Equal(SaslStatus.Success, ok.Status);
        Assert.Equal(SaslStatus.Success, okClient?.Status);

        var (bad, _) = Sasl.Authenticate(_store.Store, mechanism, Tls, Tls, Sasl.User, "wrong", authorizationIdentity);
        Assert.Equal(SaslFailure.BadCredentials, bad.Failure);
    }

    [Fact]
    public void Login_prompts_for_username_then_password()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);

        Assert.Equal("Username:", Sasl.Text(server.Start().Challenge));
        Assert.Equal("Password:", Sasl.Text(server.Step(Sasl.Utf8(Sasl.User)).Challenge));
        Assert.Equal(Sasl.User, server.AttemptedUsername);
        var result = server.Step(Sasl.Utf8(Sasl.Password));
        Assert.Equal(SaslStatus.Success, result.Status);
        Assert.Equal(Sasl.User, result.Username);
    }

    [Fact]
    public void Login_with_the_username_as_initial_response()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);

        Assert.Equal("Password:", Sasl.Text(server.Step(Sasl.Utf8(Sasl.User)).Challenge));
        Assert.Equal(SaslStatus.Success, server.Step(Sasl.Utf8(Sasl.Password)).Status);
    }

    [Fact]
    public void Login_failures()
    {
        var wrong = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);
        wrong.Step(Sasl.Utf8(Sasl.User));
        Assert.Equal(SaslFailure.BadCredentials, wrong.Step("nope"u8).Failure);

        var unknown = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);
        unknown.Step("nobody"u8);
        Assert.Equal(SaslFailure.UnknownUser, unknown.Step(Sasl.Utf8(Sasl.Password)).Failure);

        Assert.Equal(SaslFailure.Malformed, Sasl.Server(_store.Store, SaslMechanisms.Login, Tls).Step([]).Failure);
        var emptyPassword = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);
        emptyPassword.Step(Sasl.Utf8(Sasl.User));
        Assert.Equal(SaslFailure.Malformed, emptyPassword.Step([]).Failure);
    }

    [Fact]
    public void Abort_fails_the_attempt_and_ends_it()
    {
        var server = Sasl.Server(_store.Store, SaslMechanisms.Login, Tls);
        server.Start();

        Assert.Equal(SaslFailure.Aborted, server.Abort().Failure);
        Assert.True(server.IsComplete);
        Assert.Throws<InvalidOperationException>(() => server.Step("x"u8));
    }

    [Fact]
    public void Unknown_or_disabled_mechanism_is_not_created()
    {
        var factory = new SaslServerFactory(_store.Store);

        Assert.False(factory.TryCreate("GSSAPI", Tls, out _));
        Assert.False(factory.TryCreate(SaslMechanisms.CramMd5, Tls, out _)); // not in the default list
        Assert.True(factory.TryCreate("plain", Tls, out var lower));
        Assert.Equal(SaslMechanisms.Plain, lower.Mechanism);
        Assert.Throws<ArgumentException>(() => new SaslServerFactory(_store.Store, new SaslServerOptions { Mechanisms = ["NTLM"] }));
    }

    [Fact]
    public void Advertised_mechanisms_depend_on_the_channel()
    {
        var factory = new SaslServerFactory(_store.Store);

        Assert.Equal([SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha1], factory.Advertised(SaslChannel.Plaintext));
        Assert.Equal([SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha1, SaslMechanisms.Plain, SaslMechanisms.Login], factory.Advertised(Tls));
        Assert.Equal(
            [SaslMechanisms.ScramSha256Plus, SaslMechanisms.ScramSha256, SaslMechanisms.ScramSha1Plus, SaslMechanisms.ScramSha1, SaslMechanisms.Plain, SaslMechanisms.Login],
            factory.Advertised(Sasl.TlsWithBinding()));
    }

    [Fact]
    public void Client_mechanism_choice()
    {
        var all = SaslMechanisms.All;
        Assert.Equal(SaslMechanisms.ScramSha256Plus, SaslClientFactory.Choose(all, Sasl.TlsWithBinding()));
        Assert.Equal(SaslMechanisms.ScramSha256, SaslClientFactory.Choose(all, Tls));
        Assert.Equal(SaslMechanisms.ScramSha1, SaslClientFactory.Choose([SaslMechanisms.ScramSha1, SaslMechanisms.Plain], Tls));
        Assert.Equal(SaslMechanisms.CramMd5, SaslClientFactory.Choose(["cram-md5", "PLAIN"], Tls));
        Assert.Equal(SaslMechanisms.Plain, SaslClientFactory.Choose(["PLAIN", "LOGIN"], Tls, tlsVerified: true));
        Assert.Equal(SaslMechanisms.Login, SaslClientFactory.Choose(["LOGIN", "XOAUTH2"], Tls, tlsVerified: true));

        // A password goes only to a server whose certificate was verified, unless configured.
        Assert.Null(SaslClientFactory.Choose(["PLAIN", "LOGIN"], Tls));
        Assert.Equal(SaslMechanisms.Plain, SaslClientFactory.Choose(["PLAIN", "LOGIN"], Tls, configured: [SaslMechanisms.Plain]));
        Assert.Null(SaslClientFactory.Choose(["PLAIN", "LOGIN"], SaslChannel.Plaintext));
        Assert.Null(SaslClientFactory.Choose([SaslMechanisms.ScramSha256Plus], Tls));
        Assert.Equal(SaslMechanisms.Plain, SaslClientFactory.Choose(all, SaslChannel.Plaintext, configured: [SaslMechanisms.Plain]));
        Assert.Null(SaslClientFactory.Choose([SaslMechanisms.ScramSha256], Tls, configured: [SaslMechanisms.Plain]));
    }
}
