namespace Tern.Cli;

/// <summary>Process exit codes (the BSD sysexits values where one fits).</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>A runtime failure (could not bind a port, data directory unusable, ...).</summary>
    public const int Failure = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>EX_UNAVAILABLE: the service is not running (no server on the control socket).</summary>
    public const int Unavailable = 69;

    /// <summary>EX_CONFIG: the configuration file is wrong.</summary>
    public const int Config = 78;
}
