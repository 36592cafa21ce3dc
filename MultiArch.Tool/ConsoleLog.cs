using MultiArch.Build.Tasks;

namespace MultiArch.Tool;

/// <summary>
/// The core's log on stderr: warnings (<c>warning CODE: text</c>) and the one-line outcomes (High: "Pushed …") always,
/// step and HTTP detail only with <c>--debug</c>, as manifest-tool shows its info lines only then. Writes are
/// serialised: the core logs from parallel requests.
/// </summary>
internal sealed class ConsoleLog : IBuildLog
{
    private readonly TextWriter _stderr;
    private readonly bool _debug;
    private readonly Lock _lock = new();

    public ConsoleLog(TextWriter stderr, bool debug)
    {
        _stderr = stderr;
        _debug = debug;
    }

    public void Message(LogLevel level, string message)
    {
        if (level == LogLevel.High)
        {
            Write(message);
        }
        else if (_debug)
        {
            Write("debug: " + message);
        }
    }

    public void Warning(string code, string message) => Write($"warning {code}: {message}");

    private void Write(string line)
    {
        lock (_lock)
        {
            _stderr.Write(line + "\n");
        }
    }
}
