#!/usr/bin/perl
# One libguestfs handle driven by sendense-run over stdin/stdout (src/files/guestfs-agent.ts):
# each request is a JSON line {"id":N,"method":"ls","args":[...],"opts":{...}}, each answer
# {"id":N,"ok":true,"result":[...]} or {"id":N,"ok":false,"error":"..."}. Results are the method's
# return in list context, so scalars, lists and hashes (flattened) travel the same way.
# Strings are bytes: JSON escapes every byte above 0x7f as \u00XX and the caller decodes UTF-8.
# When stdin closes (sendense-run ended or was killed) the handle is closed and the appliance stops.
# fd 3, when open, is a lifeline only sendense-run holds: see watch_lifeline.
use strict;
use warnings;
use JSON::PP;
use POSIX ();
use Sys::Guestfs;

watch_lifeline();

$| = 1;
# A download whose reader went away (a FIFO closed by sendense-run: a client gone) fails with
# EPIPE and libguestfs cancels it; the default SIGPIPE would end the agent and its appliance.
$SIG{PIPE} = 'IGNORE';
my $decoder = JSON::PP->new->utf8;
my $encoder = JSON::PP->new->ascii->canonical;
my $g = Sys::Guestfs->new();

while (my $line = <STDIN>) {
    chomp $line;
    next if $line eq '';
    my $request = eval { $decoder->decode($line) };
    if (!defined $request) {
        print $encoder->encode({ id => undef, ok => JSON::PP::false, error => "bad request: $@" }), "\n";
        next;
    }
    my $id = $request->{id};
    my $method = $request->{method};
    my @args = map { bytes_of($_) } @{ $request->{args} // [] };
    my %opts = %{ bytes_of($request->{opts} // {}) };
    my @result = eval {
        if ($method eq 'new_handle') {
            # A fresh handle (e.g. to retry a launch with other backend settings).
            $g->close() if defined $g;
            $g = Sys::Guestfs->new();
            return ();
        }
        die "no such libguestfs method '$method'\n" unless $method =~ /^[a-z][a-z0-9_]*$/ && $g->can($method);
        return $g->$method(@args, %opts);
    };
    if ($@) {
        my $error = "$@";
        $error =~ s/ at \S+ line \d+\b.*$//s;
        chomp $error;
        print $encoder->encode({ id => $id, ok => JSON::PP::false, error => $error }), "\n";
    } else {
        print $encoder->encode({ id => $id, ok => JSON::PP::true, result => [ map { plain($_) } @result ] }), "\n";
    }
}
$g->close() if defined $g;
exit 0;

# stdin is read only between calls: a call blocked for ever (opening a FIFO whose reader was
# killed before it opened it) would outlive sendense-run and keep its appliance. A watchdog child
# waits on fd 3; when sendense-run is gone (the lifeline's other end closed, even by kill -9) it
# ends this agent, and libguestfs's recovery process stops the appliance. It leaves when the agent
# does. It holds none of the agent's stdio, so sendense-run sees the agent end when it ends.
sub watch_lifeline {
    open(my $lifeline, '<&=', 3) or return;
    my $agent = $$;
    my $pid = fork();
    if (!defined $pid) {
        close $lifeline;
        return;
    }
    if ($pid != 0) {
        close $lifeline;
        return;
    }
    open(STDIN, '<', '/dev/null');
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>', '/dev/null');
    while (getppid() == $agent) {
        my $readable = '';
        vec($readable, fileno($lifeline), 1) = 1;
        my $ready = select($readable, undef, undef, 1);
        next if $ready == 0 || ($ready < 0 && $!{EINTR});
        last if $ready < 0;
        my $read = sysread($lifeline, my $ignored, 64);
        next if !defined $read && $!{EINTR};
        if (!$read) {
            kill 'TERM', $agent if getppid() == $agent;
            last;
        }
    }
    POSIX::_exit(0);
}

# JSON text decodes to characters; libguestfs takes bytes (a \u00XX escape is one byte).
sub bytes_of {
    my ($value) = @_;
    return [ map { bytes_of($_) } @$value ] if ref $value eq 'ARRAY';
    return { map { $_ => bytes_of($value->{$_}) } keys %$value } if ref $value eq 'HASH';
    return $value if ref $value || !defined $value;
    my $copy = "$value";
    utf8::downgrade($copy);
    return $copy;
}

# Sys::Guestfs returns 64-bit numbers as strings on some builds and structs as hash refs.
sub plain {
    my ($value) = @_;
    return $value unless ref $value;
    return [ map { plain($_) } @$value ] if ref $value eq 'ARRAY';
    return { map { $_ => plain($value->{$_}) } keys %$value } if ref $value eq 'HASH';
    return "$value";
}
