using Tern.Smtp.Client;

namespace Tern.Delivery.Tests.Delivering;

public sealed class SessionPoolKeyTests
{
    [Fact]
    public void A_session_admitted_by_one_certificate_check_is_never_pooled_for_another()
    {
        // A session PKIX-checked for one domain's MTA-STS policy must not carry mail for a domain that asks
        // for DANE at the same host (a CA-issued certificate would then stand in for the TLSA check).
        var dane = SessionPool.Key("direct", "mx.example.net", 25, SmtpTlsMode.Required, "dane");
        var pkix = SessionPool.Key("direct", "mx.example.net", 25, SmtpTlsMode.Required, "pkix");
        var none = SessionPool.Key("direct", "mx.example.net", 25, SmtpTlsMode.Required, "none");
        Assert.Equal(3, new HashSet<string> { dane, pkix, none }.Count);
        Assert.Equal(dane, SessionPool.Key("direct", "mx.example.net", 25, SmtpTlsMode.Required, "dane"));
    }

    [Fact]
    public void A_session_opened_for_one_tls_mode_is_never_pooled_for_another()
    {
        var keys = Enum.GetValues<SmtpTlsMode>().Select(mode => SessionPool.Key("direct", "mx.example.net", 25, mode, "none")).ToList();
        Assert.True(keys.Count >= 3);
        Assert.Equal(keys.Count, keys.Distinct().Count());
    }
}
