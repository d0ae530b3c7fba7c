using Tern.Smtp.Client;
using Tern.Smtp.Client.Tls;

namespace Tern.Smtp.Tests.ClientTls;

/// <summary>Both outcomes are always reported; <see cref="TlsVerification.Accepted"/> under every switch combination.</summary>
public sealed class ClientTlsDecisionTests(TestPki pki) : IClassFixture<TestPki>
{
    // scenario -> (leaf, sent, records, PKIX outcome, DANE outcome)
    private static readonly Dictionary<string, (string Leaf, string Sent, string Tlsa, bool Pkix, bool? Dane)> Scenarios = new()
    {
        ["pkix ok, dane ok"] = ("leaf", "intermediate", "3 1 1 leaf", true, true),
        ["pkix ok, dane fail"] = ("leaf", "intermediate", "3 1 1 wrongname", true, false),
        ["pkix ok, dane unusable"] = ("leaf", "intermediate", "0 0 1 leaf", true, null),
        ["pkix ok, no tlsa"] = ("leaf", "intermediate", "", true, null),
        ["pkix fail, dane ok"] = ("selfsigned", "", "3 1 1 selfsigned", false, true),
        ["pkix fail, dane fail"] = ("selfsigned", "", "3 1 1 leaf", false, false),
        ["pkix fail, dane unusable"] = ("selfsigned", "", "1 1 1 selfsigned", false, null),
    };

    public static TheoryData<string, bool, bool, bool> Combinations()
    {
        var data = new TheoryData<string, bool, bool, bool>();
        foreach (var s in Scenarios.Keys)
            foreach (bool pkix in new[] { false, true })
                foreach (bool dane in new[] { false, true })
                    foreach (bool ignore in new[] { false, true })
                        data.Add(s, pkix, dane, ignore);
        return data;
    }

    [Theory]
    [MemberData(nameof(Combinations))]
    public void Both_outcomes_reported_and_switches_decide(string scenario, bool verifyPkix, bool verifyDane, bool ignoreErrors)
    {
        var (leaf, sent, tlsa, pkixOk, daneOk) = Scenarios[scenario];
        var options = new ClientTlsOptions
        {
            ServerName = TestPki.Host,
            VerifyPkix = verifyPkix,
            VerifyDane = verifyDane,
            IgnoreVerificationErrors = ignoreErrors,
            Tlsa = pki.Tlsa(tlsa),
            CaBundlePath = pki.BundlePath,
        };
        using var presented = pki.Presented(sent);
        var r = TlsVerifier.Verify(pki[leaf], presented, options);

        // The switches never change what is reported.
        Assert.Equal(pkixOk, r.PkixValid);
        Assert.Equal(pkixOk, r.PkixError is null);
        Assert.Equal(daneOk, r.DaneValid);
        Assert.Equal(daneOk == false, r.DaneError is not null && !r.DaneError.StartsWith("no usable", StringComparison.Ordinal));

        bool expected = ignoreErrors || ((!verifyPkix || pkixOk) && (!verifyDane || daneOk != false));
        Assert.Equal(expected, r.Accepted);
    }

    [Theory]
    // A few combinations spelled out, independent of the formula above.
    [InlineData("pkix fail, dane ok", true, false, false, false)]   // MTA-STS style: PKIX required
    [InlineData("pkix fail, dane ok", false, true, false, true)]    // DANE style: PKIX irrelevant
    [InlineData("pkix ok, dane fail", false, true, false, false)]
    [InlineData("pkix ok, dane fail", true, true, false, false)]
    [InlineData("pkix ok, dane fail", true, true, true, true)]      // opportunistic: let through, still reported
    [InlineData("pkix fail, dane unusable", false, true, false, true)] // DANE does not apply: not a DANE failure
    [InlineData("pkix fail, dane unusable", true, true, false, false)]
    [InlineData("pkix fail, dane fail", false, false, false, true)] // no verification asked
    public void Spelled_out_decisions(string scenario, bool verifyPkix, bool verifyDane, bool ignoreErrors, bool accepted)
    {
        var (leaf, sent, tlsa, _, _) = Scenarios[scenario];
        using var presented = pki.Presented(sent);
        var r = TlsVerifier.Verify(pki[leaf], presented, new ClientTlsOptions
        {
            ServerName = TestPki.Host,
            VerifyPkix = verifyPkix,
            VerifyDane = verifyDane,
            IgnoreVerificationErrors = ignoreErrors,
            Tlsa = pki.Tlsa(tlsa),
            CaBundlePath = pki.BundlePath,
        });
        Assert.Equal(accepted, r.Accepted);
    }
}
