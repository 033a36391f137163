//! Assertions that return a [`crate::fmt::Fail`] with the source line
//! instead of panicking (a panic would stop the whole suite).

/// A [`crate::fmt::Fail`] at this line.
macro_rules! fail {
    ($($arg:tt)*) => {
        $crate::fmt::Fail::new(line!(), format_args!($($arg)*))
    };
}

/// Fail the test unless `cond`.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err(fail!($($arg)*));
        }
    };
}

/// Fail the test unless `a == b`; shows both (hex for numbers).
macro_rules! check_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = ($a, $b);
        if a != b {
            return Err(fail!("{} = {:x?}, expected {:x?}", stringify!($a), a, b));
        }
    }};
    ($a:expr, $b:expr, $($ctx:tt)+) => {{
        let (a, b) = ($a, $b);
        if a != b {
            return Err(fail!(
                "{} = {:x?}, expected {:x?} {}",
                stringify!($a),
                a,
                b,
                format_args!($($ctx)+)
            ));
        }
    }};
}

/// The `Ok` value of a `Result<_, abi::Error>`, or fail the test.
macro_rules! ok {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return Err(fail!("{}: {:?}", stringify!($e), e)),
        }
    };
}

/// Fail unless `e` is `Err` with the given error (or one of a list, where
/// the ABI does not pin the code).
macro_rules! expect_err {
    ($e:expr, [$($err:expr),+ $(,)?]) => {
        match $e {
            Ok(_) => {
                return Err(fail!("{}: Ok, expected {:?}", stringify!($e), [$($err),+]))
            }
            Err(e) if [$($err),+].contains(&e) => {}
            Err(e) => {
                return Err(fail!("{}: {:?}, expected {:?}", stringify!($e), e, [$($err),+]))
            }
        }
    };
    ($e:expr, $err:expr) => {
        expect_err!($e, [$err])
    };
}
